"""The same four checks as bench/molecule/specs/role/web.toml."""


def test_nginx_installed(host):
    assert host.package("nginx-light").is_installed


def test_page_rendered(host):
    page = host.file("/var/www/html/index.html")
    assert page.is_file and page.mode == 0o644


def test_page_title(host):
    assert host.file("/var/www/html/index.html").contains("hello from the role")


def test_nginx_config_valid(host):
    assert host.run("nginx -t").rc == 0
