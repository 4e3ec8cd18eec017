"""Real Apache and nginx in front of the backend, configured from the shipped files.

The files under apache/ and nginx/ are the ones users copy, and the ones under test: they are
rendered with only their example values replaced (the backend address, /srv/mysite, the
ports, the certificate paths, where the snippets live), then included from a minimal main
configuration written here.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.servers import ROOT, free_port, running

APACHE_MODULES = ("mpm_event", "authz_core", "alias", "mime", "proxy", "proxy_http", "rewrite",
                  "headers", "ssl", "socache_shmcb", "wsgi")  # fmt: skip
MODULE_DIR = Path("/usr/lib/apache2/modules")


@dataclass(frozen=True)
class Proxy:
    name: str
    http_port: int
    tls_port: int
    log_dir: Path


def render(path: Path, replacements: Mapping[str, str]) -> str:
    text = path.read_text()
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


def world_readable_dir(prefix: str) -> Path:
    """A temporary folder www-data can read (pytest's own are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    folder.chmod(0o755)
    return folder


def copy_site(destination: Path) -> None:
    """The code mod_wsgi imports: the sample site and wsbackend, readable by www-data."""
    for name in ("apps", "wsbackend", "apache"):
        shutil.copytree(ROOT / name, destination / name,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for path in [destination, *destination.rglob("*")]:
        mode = 0o755 if path.is_dir() else 0o644
        path.chmod(mode | (path.stat().st_mode & stat.S_IXUSR))


def common_replacements(backend_port: int, cert: Path, key: Path) -> dict[str, str]:
    return {
        "127.0.0.1:8000": f"127.0.0.1:{backend_port}",
        "/etc/ssl/certs/www.example.com.pem": str(cert),
        "/etc/ssl/private/www.example.com.key": str(key),
    }


@contextlib.contextmanager
def apache(backend_port: int, cert: Path, key: Path) -> Iterator[Proxy]:
    """Apache with apache/vhost.conf and vhost-tls.conf (which include snippet.conf), pages
    from mod_wsgi running apache/site.wsgi."""
    work = world_readable_dir("wsbackend-apache-")
    site = work / "site"
    copy_site(site)
    (work / "snippets").mkdir()
    (work / "logs").mkdir()
    http_port, tls_port = free_port(), free_port()
    replacements = {
        **common_replacements(backend_port, cert, key),
        "/srv/mysite": str(site),
        "/etc/apache2/snippets/wsbackend.conf": str(work / "snippets" / "wsbackend.conf"),
        "${APACHE_LOG_DIR}": str(work / "logs"),
        "<VirtualHost *:80>": f"<VirtualHost *:{http_port}>",
        "<VirtualHost *:443>": f"<VirtualHost *:{tls_port}>",
    }
    (work / "snippets" / "wsbackend.conf").write_text(
        render(ROOT / "apache" / "snippet.conf", replacements)
    )
    for name in ("vhost.conf", "vhost-tls.conf"):
        (work / name).write_text(render(ROOT / "apache" / name, replacements))
    modules = "\n".join(
        f"LoadModule {name}_module {MODULE_DIR / f'mod_{name}.so'}" for name in APACHE_MODULES
    )
    (work / "httpd.conf").write_text(f"""
ServerRoot /etc/apache2
ServerName 127.0.0.1
PidFile {work}/apache.pid
DefaultRuntimeDir {work}
Mutex file:{work} default
ErrorLog {work}/logs/error.log
LogLevel warn
User www-data
Group www-data
{modules}
TypesConfig /etc/mime.types
Listen 127.0.0.1:{http_port}
Listen 127.0.0.1:{tls_port}
WSGISocketPrefix {work}/wsgi
Include {work}/vhost.conf
Include {work}/vhost-tls.conf
""")
    argv = ["apache2", "-f", str(work / "httpd.conf"), "-DFOREGROUND"]
    try:
        with running(argv, http_port, work / "logs" / "stdout.log"):
            yield Proxy("apache", http_port, tls_port, work / "logs")
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def nginx(
    backend_port: int,
    cert: Path,
    key: Path,
    site_port: int | None = None,
    extra_backends: Sequence[int] = (),
) -> Iterator[Proxy]:
    """nginx with nginx/site.conf and site-tls.conf, upstream.conf in http {}, and the
    snippets where their headers say; the site's own pages from ``site_port``;
    ``extra_backends`` join the ``wsbackend`` upstream."""
    work = world_readable_dir("wsbackend-nginx-")
    for folder in ("snippets", "conf.d", "sites", "logs", "temp"):
        (work / folder).mkdir()
    http_port, tls_port = free_port(), free_port()
    replacements = {
        **common_replacements(backend_port, cert, key),
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{tls_port} ssl;",
    }
    if site_port is not None:
        replacements["127.0.0.1:8080"] = f"127.0.0.1:{site_port}"
    files = {
        "upstream.conf": work / "conf.d" / "wsbackend.conf",
        "snippet.conf": work / "snippets" / "wsbackend.conf",
        "proxy.conf": work / "snippets" / "wsbackend-proxy.conf",
        "site.conf": work / "sites" / "site.conf",
        "site-tls.conf": work / "sites" / "site-tls.conf",
    }
    for name, destination in files.items():
        destination.write_text(render(ROOT / "nginx" / name, replacements))
    if extra_backends:
        servers = "".join(f"    server 127.0.0.1:{port};\n" for port in extra_backends)
        upstream = files["upstream.conf"]
        text, found = re.subn(r"(upstream wsbackend \{[^}]*)\}", rf"\g<1>{servers}}}",
                              upstream.read_text())  # fmt: skip
        assert found == 1, "no upstream wsbackend block in nginx/upstream.conf"
        upstream.write_text(text)
    temp = work / "temp"
    (work / "nginx.conf").write_text(f"""
daemon off;
master_process on;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {work}/logs/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include conf.d/*.conf;
    include sites/*.conf;
}}
""")
    argv = ["nginx", "-p", str(work), "-c", str(work / "nginx.conf")]
    try:
        with running(argv, http_port, work / "logs" / "stdout.log"):
            yield Proxy("nginx", http_port, tls_port, work / "logs")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def proxies_available() -> dict[str, bool]:
    return {
        "apache": shutil.which("apache2") is not None and (MODULE_DIR / "mod_wsgi.so").exists(),
        "nginx": shutil.which("nginx") is not None,
    }


__all__ = ["Proxy", "apache", "nginx", "proxies_available"]
