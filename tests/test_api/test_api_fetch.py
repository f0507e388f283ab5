"""The URL guard, tested on the fetcher itself (no model server): only public http(s)
addresses, also after every redirect, and a size cap."""

import pytest

from serving.api.fetch import FetchPolicy, FetchRefused, fetch_picture


def test_fetches_from_the_one_allowed_test_host(picture_host, picture):
    body = fetch_picture(f"http://{picture_host}/pic.jpg", FetchPolicy(allow_hosts=[picture_host]))
    assert body == picture("shirt", "blue", seed=60)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/x.jpg", "http://localhost/x.jpg", "http://10.0.0.8/x.jpg", "http://192.168.1.2/x.jpg",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/x.jpg", "http://[::ffff:127.0.0.1]/x.jpg",
    "ftp://example.com/x.jpg", "file:///etc/passwd", "http://0.0.0.0/x.jpg",
])
def test_refuses_internal_addresses_and_other_schemes(picture_host, url):
    with pytest.raises(FetchRefused):
        fetch_picture(url, FetchPolicy(allow_hosts=[picture_host]))


@pytest.mark.parametrize("target", ["http://127.0.0.1:6379/", "http://169.254.169.254/latest/meta-data/"])
def test_redirect_to_an_internal_address_is_refused(picture_host, target):
    with pytest.raises(FetchRefused, match="non-public"):
        fetch_picture(f"http://{picture_host}/redirect?to={target}", FetchPolicy(allow_hosts=[picture_host]))


def test_oversized_download_is_refused(picture_host):
    with pytest.raises(FetchRefused, match="larger than"):
        fetch_picture(f"http://{picture_host}/big.jpg", FetchPolicy(max_bytes=1_000_000, allow_hosts=[picture_host]))


def test_error_status_is_refused(picture_host):
    with pytest.raises(FetchRefused, match="404"):
        fetch_picture(f"http://{picture_host}/missing.jpg", FetchPolicy(allow_hosts=[picture_host]))
