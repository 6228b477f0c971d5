"""Console users and sessions in the database, on SQLite and PostgreSQL; passwords; the CLI."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.clock import now_ms
from server.console import auth, queries
from server.settings import ConsoleSettings, DatabaseSettings
from server.storage import AlreadyExists, NotFound, open_storage

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ConsoleSettings(failed_login_delay_s=0.0)


def test_passwords_are_salted_scrypt_hashes_checked_exactly():
    first, second = auth.hash_password("correct horse battery"), auth.hash_password("correct horse battery")
    assert first.startswith("scrypt$") and first != second          # a salt per hash
    assert "correct horse" not in first
    assert auth.verify_password("correct horse battery", first)
    assert auth.verify_password("correct horse battery", second)
    assert not auth.verify_password("correct horse batterY", first)
    assert not auth.verify_password("", first)
    assert not auth.verify_password("correct horse battery", "md5$abc")
    assert not auth.verify_password("correct horse battery", "garbage")


async def _users(storage) -> None:
    await storage.add_merchant("M1", "Tea House")
    await queries.add_user(storage, "ops", auth.hash_password("operator-password"), "operator", None, now_ms())
    await queries.add_user(storage, "tea", auth.hash_password("tea-house-password"), "merchant", "M1", now_ms())


async def test_users_need_a_known_merchant_exactly_when_they_are_merchants(console_storage):
    await _users(console_storage)
    with pytest.raises(AlreadyExists):
        await queries.add_user(console_storage, "tea", "x", "merchant", "M1", now_ms())
    with pytest.raises(NotFound):
        await queries.add_user(console_storage, "ghost", "x", "merchant", "M404", now_ms())
    with pytest.raises(ValueError):
        await queries.add_user(console_storage, "half", "x", "merchant", None, now_ms())
    with pytest.raises(ValueError):
        await queries.add_user(console_storage, "both", "x", "operator", "M1", now_ms())
    with pytest.raises(ValueError):
        await queries.add_user(console_storage, "boss", "x", "admin", None, now_ms())
    assert [u["username"] for u in await console_storage.list_console_users()] == ["ops", "tea"]


async def test_login_makes_a_session_the_database_knows_by_hash_only(console_storage):
    await _users(console_storage)
    token, user = await auth.log_in(console_storage, SETTINGS, "tea", "tea-house-password")
    assert user.role == "merchant" and user.merchant_id == "M1" and auth.merchant_scope(user) == "M1"
    rows = await console_storage.sql.fetchall("SELECT id, csrf_token FROM console_sessions")
    assert len(rows) == 1 and token not in rows[0]["id"] and rows[0]["id"] != token
    session = await console_storage.console_session(auth._session_id(token), now_ms())
    assert session["username"] == "tea" and session["csrf_token"] == rows[0]["csrf_token"]
    _, operator = await auth.log_in(console_storage, SETTINGS, "ops", "operator-password")
    assert auth.merchant_scope(operator) is None
    # Expired: gone for every process.
    assert await console_storage.console_session(auth._session_id(token), now_ms() + 9 * 3600 * 1000) is None


async def test_wrong_passwords_lock_the_user_and_a_good_login_resets_the_count(console_storage):
    await _users(console_storage)
    settings = ConsoleSettings(max_failed_logins=3, lockout_s=600, failed_login_delay_s=0.0)
    for _ in range(2):
        with pytest.raises(auth.LoginRefused, match="wrong"):
            await auth.log_in(console_storage, settings, "tea", "nope-nope-nope")
    await auth.log_in(console_storage, settings, "tea", "tea-house-password")   # resets
    for _ in range(3):
        with pytest.raises(auth.LoginRefused, match="wrong"):
            await auth.log_in(console_storage, settings, "tea", "nope-nope-nope")
    with pytest.raises(auth.LoginRefused, match="locked"):
        await auth.log_in(console_storage, settings, "tea", "tea-house-password")
    # The lock passes.
    await console_storage.sql.execute("UPDATE console_users SET locked_until = ? WHERE username = ?",
                                      (now_ms() - 1, "tea"))
    await auth.log_in(console_storage, settings, "tea", "tea-house-password")


async def test_new_password_or_disabling_ends_the_users_sessions(console_storage):
    await _users(console_storage)
    token, _ = await auth.log_in(console_storage, SETTINGS, "tea", "tea-house-password")
    ops_token, _ = await auth.log_in(console_storage, SETTINGS, "ops", "operator-password")
    assert await console_storage.set_console_password("tea", auth.hash_password("another-password"))
    assert await console_storage.console_session(auth._session_id(token), now_ms()) is None
    assert await console_storage.console_session(auth._session_id(ops_token), now_ms()) is not None
    with pytest.raises(auth.LoginRefused):
        await auth.log_in(console_storage, SETTINGS, "tea", "tea-house-password")
    token, _ = await auth.log_in(console_storage, SETTINGS, "tea", "another-password")
    assert await console_storage.set_console_user_disabled("tea", True)
    assert await console_storage.console_session(auth._session_id(token), now_ms()) is None
    with pytest.raises(auth.LoginRefused, match="wrong"):
        await auth.log_in(console_storage, SETTINGS, "tea", "another-password")
    assert not await console_storage.set_console_password("ghost", "x")


def _cli(tmp_path, *args, stdin: str = "") -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "SCANPAY_DB": str(tmp_path / "cli.db"), "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "server", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)


def test_cli_adds_console_users(tmp_path):
    assert _cli(tmp_path, "merchant", "add", "--id", "M1", "--name", "Tea").returncode == 0
    done = _cli(tmp_path, "console-user", "add", "tea", "--role", "merchant", "--merchant", "M1",
                "--password-stdin", stdin="tea-house-password\n")
    assert done.returncode == 0, done.stderr
    assert "tea-house-password" not in done.stdout + done.stderr
    short = _cli(tmp_path, "console-user", "add", "ops", "--role", "operator", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    no_merchant = _cli(tmp_path, "console-user", "add", "x", "--role", "merchant", "--password-stdin",
                       stdin="long-enough-password\n")
    assert no_merchant.returncode == 1 and "--merchant" in no_merchant.stderr
    again = _cli(tmp_path, "console-user", "add", "tea", "--role", "merchant", "--merchant", "M1",
                 "--password-stdin", stdin="tea-house-password\n")
    assert again.returncode == 1 and "exists already" in again.stderr
    assert _cli(tmp_path, "console-user", "disable", "tea").returncode == 0
    listed = _cli(tmp_path, "console-user", "list")
    assert listed.stdout.split() == ["tea", "merchant", "M1", "disabled"]
    assert _cli(tmp_path, "console-user", "enable", "nobody").returncode == 1


async def test_login_handler_logic_does_not_leak_which_users_exist(console_storage):
    await _users(console_storage)
    for username, password in (("nobody", "whatever-pass"), ("tea", "whatever-pass")):
        with pytest.raises(auth.LoginRefused) as refused:
            await auth.log_in(console_storage, SETTINGS, username, password)
        assert str(refused.value) == auth.REFUSED


def test_only_console_pages_are_places_to_return_to_after_login():
    for target in ("/console/orders", "/console/orders?status=PAYING"):
        assert auth.safe_next(target) == target
    for target in ("https://evil.example/", "//evil.example/console/", "/console/../x", "/d/v1/pay",
                   "/console/login", "/console/\\evil", None, ""):
        assert auth.safe_next(target) == "/console/orders"



async def test_a_session_made_by_one_process_is_known_to_another_and_ends_for_both(console_database,
                                                                                 console_storage):
    await _users(console_storage)
    token, _ = await auth.log_in(console_storage, SETTINGS, "tea", "tea-house-password")
    async with open_storage(DatabaseSettings(**console_database)) as other_process:
        session = await other_process.console_session(auth._session_id(token), now_ms())
        assert session is not None and session["username"] == "tea"
        await other_process.delete_console_session(auth._session_id(token))   # logged out over there
    assert await console_storage.console_session(auth._session_id(token), now_ms()) is None
