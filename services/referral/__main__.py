"""python -m services.referral api|relay|worker"""
from services.referral.api import create_app
from services.referral.consumers import create_worker
from services.referral.relay import create_relay
from services.referral.settings import load_settings
from shared.runner import main

if __name__ == "__main__":
    main("referral", load_settings, create_app, create_relay, create_worker)
