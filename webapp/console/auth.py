"""Console login and logout, the role decorators and the agency scope every console view uses.

    from webapp.console.auth import agency_scope, ops_required, staff_required

    @bp.get("/review")
    @ops_required                 # operations team only; agency staff get 403
    def review_queue(): ...

    @bp.get("/confirmations")
    @staff_required               # any logged-in staff member
    def agency_confirmations():
        code = agency_scope(current_staff())   # None: every agency (ops); else the one agency code
        ...

Login attempts are limited per (client IP, email) and per client IP in fixed windows in Redis
(failures only, so a whole office behind one NAT address is not locked out by its own successful
logins; never per email alone, so no one can lock a member out from elsewhere), with lockouts
that double on each repeat and are recorded.
If Redis does not answer, the failures recorded in the database (`models.login_failures`, per
address and account as well) limit instead and a warning is logged: the limit never silently
disappears, and never becomes a lock on the account for everyone.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import UserMixin, current_user, login_user, logout_user
from redis.exceptions import RedisError

from models.base import utcnow
from models.login_failures import MAX_LOCK as LONGEST_LOCK
from models.login_failures import over_limit, record_failure
from models.staff import ROLE_OPS, Staff, authenticate, normalize_email, record_login_lockout
from models.staff_sessions import end_session, session_staff, start_session

from .blueprint import bp
from .forms import LoginForm

__all__ = ["agency_scope", "current_staff", "ops_required", "restrict_to_agency", "roles_required",
           "staff_required"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

MSG = {
    "login_failed": "電子郵件或密碼不正確，或帳號已停用。",
    "rate_limited": "登入嘗試次數過多，為保護帳號安全，請 {minutes} 分鐘後再試。如需協助請聯絡營運小組（研考會）。",
    "welcome": "{name}，歡迎登入。",
    "logged_out": "您已登出。",
}


# --- who is logged in ---------------------------------------------------------------------------

class ConsoleUser(UserMixin):
    """Flask-Login's view of a staff account: the domain's `Staff` knows nothing of sessions.

    Templates read the account's attributes through it (`current_user.name`, `.role`).
    """

    def __init__(self, staff: Staff) -> None:
        self.staff = staff

    def get_id(self) -> str:
        return str(self.staff.id)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.staff.is_active

    def __getattr__(self, name: str) -> Any:
        return getattr(self.staff, name)


SESSION_KEY = "console_session"  # the random id of this sign-in's StaffSession row
PENDING_KEY = "console_two_factor"  # password accepted, code not yet: {"staff", "next", "at"}


def load_user(user_id: str) -> ConsoleUser | None:
    """Flask-Login's user loader: the account of this cookie's session, while that session has not
    ended (logout, password change, disabling, 8 h idle) and the account is active."""
    staff = session_staff(session.get(SESSION_KEY), utcnow())
    if staff is None or str(staff.id) != str(user_id):
        return None
    return ConsoleUser(staff)


def current_session_id() -> str | None:
    return session.get(SESSION_KEY)


def sign_in(staff: Staff) -> None:
    """A fresh cookie session bound to a new StaffSession row."""
    session.clear()
    session[SESSION_KEY] = start_session(staff, utcnow(), client_ip())
    login_user(ConsoleUser(staff))


def current_staff() -> Staff | None:
    """The logged-in staff member, or None."""
    if not current_user.is_authenticated:
        return None
    user = current_user._get_current_object()
    return user.staff if isinstance(user, ConsoleUser) else None


def staff_required(view: F) -> F:
    """Any logged-in, active staff member; others are sent to the login page."""
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        if current_staff() is None:
            return current_app.login_manager.unauthorized()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def roles_required(*roles: str) -> Callable[[F], F]:
    """Logged-in staff whose role is one of `roles`; other staff get 403."""
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            staff = current_staff()
            if staff is None:
                return current_app.login_manager.unauthorized()
            if staff.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


ops_required = roles_required(ROLE_OPS)
ops_required.__doc__ = "The operations team (研考會) only; agency staff get 403."


def agency_scope(staff: Staff) -> str | None:
    """The agency whose records this staff member may see: None means every agency (ops).

    Filter with it: ``if (code := agency_scope(staff)) is not None: query = query.where(X.agency_code == code)``.
    """
    if staff.role == ROLE_OPS:
        return None
    # An agency account always has a code (create_staff checks); "" matches nothing if one did not.
    return staff.agency_code or ""


def restrict_to_agency(query, agency_field, staff: Staff):
    """`query` limited to the rows of the staff member's agency (unchanged for ops)."""
    code = agency_scope(staff)
    return query if code is None else query.where(agency_field == code)


# --- login attempts -----------------------------------------------------------------------------

class LoginLimiter:
    """Failed logins limited per (address, account) and per address, never per account alone, so
    strangers elsewhere cannot lock a member out (issue 10 item 7). Going over a limit locks that
    pair (or address) for the window; each further lockout within a day doubles it (growing delay,
    at most a day). Every lockout is an audit event with the time it ends."""

    MAX_LOCK = int(LONGEST_LOCK.total_seconds())

    def __init__(self) -> None:
        config = current_app.config
        self.per_pair = int(config.get("LOGIN_LIMIT_PER_EMAIL", 10))
        self.per_ip = int(config.get("LOGIN_LIMIT_PER_IP", 30))
        self.window = int(config.get("LOGIN_LIMIT_WINDOW_SECONDS", 15 * 60))
        self.prefix = config.get("LOGIN_LIMIT_KEY_PREFIX", "console:login")
        self.locked_seconds = self.window

    @property
    def minutes(self) -> int:
        return max(1, -(-self.locked_seconds // 60))

    def _keys(self, email: str, ip: str) -> dict[str, str]:
        # Emails are hashed so Redis holds no personal data.
        digest = hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]
        return {"pair": f"{self.prefix}:pair:{ip}:{digest}", "ip": f"{self.prefix}:ip:{ip}"}

    def attempt(self, email: str, ip: str, now: dt.datetime | None = None) -> bool:
        """Count this attempt; False while the pair or the address is locked (refuse it unchecked)."""
        keys = self._keys(email, ip)
        limits = {"pair": self.per_pair, "ip": self.per_ip}
        try:
            redis = current_app.extensions["redis"]
            pipe = redis.pipeline()
            for key in keys.values():
                pipe.ttl(f"{key}:lock")
            locks = pipe.execute()
            if any(ttl and ttl > 0 for ttl in locks):
                self.locked_seconds = max(ttl for ttl in locks if ttl)
                return False
            pipe = redis.pipeline()
            for key in keys.values():
                pipe.set(key, 0, ex=self.window, nx=True)
                pipe.incr(key)
            counts = pipe.execute()[1::2]
            for (scope, key), count in zip(keys.items(), counts, strict=True):
                if count > limits[scope]:
                    self._lock(redis, scope, key, email, ip)
                    return False
        except RedisError as error:
            log.warning("login rate limit: Redis unavailable (%s); limiting by the failures in the database", error)
            return not over_limit(email, ip, per_pair=self.per_pair, per_ip=self.per_ip,
                                  window=dt.timedelta(seconds=self.window), now=now or utcnow())
        return True

    def _lock(self, redis, scope: str, key: str, email: str, ip: str) -> None:
        strike = redis.incr(f"{key}:strikes")
        redis.expire(f"{key}:strikes", self.MAX_LOCK)
        seconds = min(self.window * 2 ** (strike - 1), self.MAX_LOCK)
        redis.set(f"{key}:lock", 1, ex=seconds)
        redis.delete(key)
        self.locked_seconds = seconds
        log.warning("console login locked: scope=%s ip=%s for %ss (strike %s)", scope, ip, seconds, strike)
        record_login_lockout(email, ip, scope, seconds, strike, key=key.removeprefix(f"{self.prefix}:"))

    def lift(self, key: str | None) -> None:
        """Clear a lock the operations team lifted (`key` as recorded with the lockout): the lock, its
        strikes (the next lockout starts short again) and the count. Redis being down is logged, not
        raised: the lock then simply runs out."""
        if not key:
            return
        full = f"{self.prefix}:{key}"
        try:
            current_app.extensions["redis"].delete(f"{full}:lock", f"{full}:strikes", full)
        except RedisError as error:
            log.warning("login rate limit: Redis unavailable (%s); the lifted lock %s runs out by itself", error, key)

    def succeeded(self, email: str, ip: str) -> None:
        """A successful login does not count against the pair or the office's address."""
        keys = self._keys(email, ip)
        try:
            pipe = current_app.extensions["redis"].pipeline()
            pipe.delete(keys["pair"])
            pipe.decr(keys["ip"])
            pipe.execute()
        except RedisError as error:
            log.warning("login rate limit: Redis unavailable (%s); counters not reset", error)


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (never redirect to another host)."""
    if not target:
        return None
    target = target.strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def client_ip() -> str:
    """The client address (behind a proxy, the factory must apply ProxyFix for this to be the client)."""
    return request.remote_addr or "unknown"


# --- views --------------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; a generic message on any failure, so it never tells which emails exist."""
    if current_staff() is not None:
        return redirect(safe_next(request.args.get("next")) or url_for("console.home"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    error, status = None, 200
    if form.validate_on_submit():
        email = normalize_email(form.email.data)
        ip = client_ip()
        limiter = LoginLimiter()
        if not limiter.attempt(email, ip):
            log.warning("console login refused by rate limit for ip=%s", ip)
            error, status = MSG["rate_limited"].format(minutes=limiter.minutes), 429
        else:
            staff = authenticate(email, form.password.data,
                                 failure_window=dt.timedelta(seconds=limiter.window))
            if staff is not None:
                limiter.succeeded(email, ip)
                target = safe_next(form.next.data) or url_for("console.home")
                if staff.two_factor_enabled:  # the password was right; the code comes next
                    session.clear()
                    session[PENDING_KEY] = {"staff": staff.id, "next": target, "at": utcnow().timestamp()}
                    return redirect(url_for("console.login_code"))
                sign_in(staff)  # a fresh session for the new login
                flash(MSG["welcome"].format(name=staff.name), "success")
                return redirect(target)
            record_failure(email, ip, utcnow())  # the fallback's count, should Redis stop answering
            error, status = MSG["login_failed"], 401
    elif request.method == "POST":
        status = 400
    form.password.data = ""
    return render_template("console/login.html", form=form, error=error, title="登入"), status


@bp.post("/logout")
def logout():
    """Log out (POST with a CSRF token, so another site cannot log staff out)."""
    # CSRFProtect has already checked the token of this POST (a bad one never reaches here).
    end_session(current_session_id(), utcnow())  # a copy of this cookie is refused from now on
    logout_user()
    session.clear()
    flash(MSG["logged_out"], "info")
    return redirect(url_for("console.login"))
