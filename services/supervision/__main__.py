"""python -m services.supervision api|relay|worker"""
from services.supervision.api import create_app
from services.supervision.consumers import create_worker, run_worker
from services.supervision.relay import create_relay
from services.supervision.settings import load_settings
from shared.runner import main

if __name__ == "__main__":
    main("supervision", load_settings, create_app, create_relay, create_worker, run_worker=run_worker)
