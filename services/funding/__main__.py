"""python -m services.funding api|relay|worker"""
from services.funding.api import create_app
from services.funding.consumers import create_worker
from services.funding.relay import create_relay
from services.funding.settings import load_settings
from shared.runner import main

if __name__ == "__main__":
    main("funding", load_settings, create_app, create_relay, create_worker)
