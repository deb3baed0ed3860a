"""python -m services.intake api|relay|worker"""
from services.intake.api import create_app
from services.intake.consumers import create_worker
from services.intake.relay import create_relay
from services.intake.settings import load_settings
from shared.runner import main

if __name__ == "__main__":
    main("intake", load_settings, create_app, create_relay, create_worker)
