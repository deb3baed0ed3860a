// Draws every element with a data-chart attribute with ECharts (served by the console from
// npm): the option is built on the server; here it is only handed over. A figure that names a
// link (data.href) opens it when clicked: the events behind the figure.
document.addEventListener("DOMContentLoaded", function () {
  if (typeof echarts === "undefined") { return; }
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var chart = echarts.init(el);
    chart.setOption(JSON.parse(el.getAttribute("data-chart")));
    chart.on("click", function (p) { if (p.data && p.data.href) { window.location.href = p.data.href; } });
    window.addEventListener("resize", function () { chart.resize(); });
  });
});
