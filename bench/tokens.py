"""What checking a bearer token costs a request, against PyJWT alone in the same run.

    .venv/bin/python bench/tokens.py [--seconds 2] [--out tokens]

Measured in process (medians of five alternating runs of each side), keys generated here and the provider's documents served by
a function (no network): a token of the identity provider (RS256 and ES256, keys cached, as
every request after the first) through shared.auth.Authority, against jwt.decode with the key
in hand; a development token (HS256) the same way; and what the guard adds by checking
provider tokens on the thread pool (so a key fetch never blocks the event loop) rather than
on the loop. Writes bench/results/<out>.json and .md."""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402

from shared.auth import Authority  # noqa: E402
from shared.oidc import Provider  # noqa: E402
from shared.settings import OidcSettings  # noqa: E402

ISSUER = "https://id.example.gov.cn/realms/jingkang"
DEV_KEY = "bench-development-key-of-32-bytes-or-more"


def per_second(check, seconds: float) -> float:
    check()  # warm: the first call fetches the keys
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            check()
        n += 50
    return n / (time.perf_counter() - start)


def paired(a, b, seconds: float, rounds: int = 5) -> tuple[float, float]:
    """Medians of `rounds` alternating runs of each: a busy machine slows both sides alike."""
    ra, rb = [], []
    for _ in range(rounds):
        ra.append(per_second(a, seconds / rounds))
        rb.append(per_second(b, seconds / rounds))
    return sorted(ra)[rounds // 2], sorted(rb)[rounds // 2]


def async_per_second(check, seconds: float, threadpool: bool) -> float:
    async def run() -> float:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(50):
                if threadpool:
                    await run_in_threadpool(check)
                else:
                    check()
            n += 50
        return n / (time.perf_counter() - start)
    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--out", default="tokens")
    args = parser.parse_args()

    keys = {"RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ES256": ec.generate_private_key(ec.SECP256R1())}
    jwks = {"keys": [{**jwt.get_algorithm_by_name(alg).to_jwk(k.public_key(), as_dict=True), "kid": alg, "alg": alg,
                      "use": "sig"} for alg, k in keys.items()]}
    documents = {ISSUER + "/.well-known/openid-configuration": {"issuer": ISSUER, "jwks_uri": ISSUER + "/certs"},
                 ISSUER + "/certs": jwks}
    authority = Authority(DEV_KEY, provider=Provider(OidcSettings(issuer=ISSUER), fetch=documents.__getitem__))
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "jingkang", "sub": "staff-w-0001", "iat": now, "exp": now + 3600,
              "realm_access": {"roles": ["station_worker"]}, "districts": ["110105"]}
    rows = []
    for alg, key in keys.items():
        token = jwt.encode(claims, key, algorithm=alg, headers={"kid": alg})
        public = key.public_key()
        raw, ours = paired(lambda: jwt.decode(token, public, algorithms=[alg], audience="jingkang", issuer=ISSUER),
                           lambda: authority.principal("Bearer " + token), args.seconds)
        rows.append({"token": f"identity provider, {alg}", "raw_per_s": round(raw), "jingkang_per_s": round(ours)})
    dev = Authority(DEV_KEY).issue(sub="w-1", role="station_worker", districts=["110105"])
    raw, ours = paired(lambda: jwt.decode(dev, DEV_KEY, algorithms=["HS256"], issuer="jingkang-dev"),
                       lambda: authority.principal("Bearer " + dev), args.seconds)
    rows.append({"token": "development, HS256", "raw_per_s": round(raw), "jingkang_per_s": round(ours)})

    rs256 = jwt.encode(claims, keys["RS256"], algorithm="RS256", headers={"kid": "RS256"})
    check = lambda: authority.principal("Bearer " + rs256)  # noqa: E731
    loop, pool = [], []
    for _ in range(5):  # alternating, medians, as above
        loop.append(async_per_second(check, args.seconds / 5, threadpool=False))
        pool.append(async_per_second(check, args.seconds / 5, threadpool=True))
    on_loop, on_pool = sorted(loop)[2], sorted(pool)[2]

    result = {"machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
              "seconds": args.seconds, "tokens": rows,
              "guard": {"on_event_loop_per_s": round(on_loop), "on_thread_pool_per_s": round(on_pool)}}
    out = ROOT / "bench/results" / args.out
    out.parent.mkdir(exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    lines = ["# Bearer-token checks per second (in process; medians of five alternating runs)", "",
             "| token | PyJWT decode, key in hand | Authority.principal | ours / raw |", "| --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['token']} | {r['raw_per_s']:,} | {r['jingkang_per_s']:,} | "
                     f"{r['jingkang_per_s'] / r['raw_per_s']:.2f} |")
    lines += ["", "| RS256 check in an async handler | per second |", "| --- | --- |",
              f"| on the event loop | {round(on_loop):,} |", f"| on the thread pool (what the guard does) | {round(on_pool):,} |"]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
