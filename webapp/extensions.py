"""Flask extensions, attached by the factory with init_app."""
from flask_login import LoginManager
from flask_mail import Mail
from flask_wtf import CSRFProtect

mail = Mail()
csrf = CSRFProtect()
login_manager = LoginManager()
