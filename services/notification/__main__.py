"""python -m services.notification api|relay|worker"""
from services.notification.api import create_app
from services.notification.consumers import create_worker
from services.notification.relay import create_relay
from services.notification.settings import load_settings
from shared.runner import main

if __name__ == "__main__":
    main("notification", load_settings, create_app, create_relay, create_worker)
