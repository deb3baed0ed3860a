"""The console's page areas, one module each. An area module exposes:

  router    its routes (APIRouter); its templates live in console/templates/<area>/
  NAV       NavItems (path, message key, roles) for the navigation: a role sees only its own
  MESSAGES  {"zh-CN": {...}, "en": {...}}: its messages, keys prefixed with the area's name

Adding an area is adding its module here."""
from console.pages import audit, clients, funding, referrals, stations, supervision

AREAS = (clients, referrals, stations, funding, supervision, audit)
