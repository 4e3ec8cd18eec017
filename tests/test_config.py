"""The configuration surface: one declaration per option, read from flags, environment or code."""

from __future__ import annotations

import pytest

from wsbackend.cli import build_parser
from wsbackend.config import OPTIONS, Config, ConfigError
from wsbackend.connection import DEFAULT_SETTINGS
from wsbackend.protocol.limits import DEFAULT_LIMITS


def test_every_option_has_a_flag_and_an_environment_variable() -> None:
    flags = {action.dest: action for action in _serve_parser()._actions}
    for option in OPTIONS:
        name = option.name or option.field
        assert option.flag == "--" + name.replace("_", "-")
        assert option.env == "WSBACKEND_" + name.upper()
        assert flags[option.field].option_strings == [option.flag, *option.aliases]


def test_environment_fills_every_section() -> None:
    config = Config.from_environ(
        {
            "WSBACKEND_WORKERS": "3",
            "WSBACKEND_PING_INTERVAL": "off",
            "WSBACKEND_MAX_MESSAGE_SIZE": "1000",
            "WSBACKEND_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16",
            "UNRELATED": "x",
        }
    )
    assert config.workers == 3
    assert config.settings.ping_interval is None
    assert config.settings.ping_timeout == DEFAULT_SETTINGS.ping_timeout
    assert config.limits.max_message_size == 1000
    assert config.limits.max_frame_size == DEFAULT_LIMITS.max_frame_size
    assert config.trusted_proxies == ("10.0.0.5", "10.1.0.0/16")


def test_no_environment_means_the_defaults() -> None:
    assert Config.from_environ({}) == Config()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WSBACKEND_WORKERS", "0"),
        ("WSBACKEND_WORKERS", "many"),
        ("WSBACKEND_BIND", "8000"),
        ("WSBACKEND_BIND", "127.0.0.1:0"),
        ("WSBACKEND_PING_TIMEOUT", "-1"),
        ("WSBACKEND_PING_TIMEOUT", "nan"),
        ("WSBACKEND_LOG_LEVEL", "verbose"),
        ("WSBACKEND_TRUSTED_PROXIES", "proxy.example.com"),
        ("WSBACKEND_ALLOWED_ORIGINS", "example.com"),
    ],
)
def test_a_bad_environment_variable_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_environ({name: value})


def test_flags_win_over_the_environment() -> None:
    args = build_parser().parse_args(["serve", "--workers", "2", "--send-timeout", "7"])
    config = Config.build(vars(args), Config.from_environ({"WSBACKEND_WORKERS": "5"}))
    assert config.workers == 2
    assert config.settings.send_timeout == 7.0


def test_check_refuses_half_a_tls_pair_and_missing_files(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="go together"):
        Config(certfile="/cert.pem").check()
    with pytest.raises(ConfigError, match="certfile"):
        Config(certfile="/nonexistent.pem", keyfile="/nonexistent.key").check()
    with pytest.raises(ConfigError, match="flash-policy"):
        Config(flash_policy="/nonexistent.xml").check()


def _serve_parser():  # type: ignore[no-untyped-def]
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    return subparsers.choices["serve"]  # type: ignore[attr-defined]
