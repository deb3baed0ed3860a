"""python -m services.assessment api|relay|worker"""
from services.assessment.api import create_app
from services.assessment.consumers import create_worker
from services.assessment.relay import create_relay
from services.assessment.settings import load_settings
from shared.runner import main

if __name__ == "__main__":
    main("assessment", load_settings, create_app, create_relay, create_worker)
