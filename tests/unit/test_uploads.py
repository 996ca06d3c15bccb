import asyncio
import hashlib
import uuid

import fsspec
import pytest

from providers.base import InputImage
from providers.uploads import Uploader, public_url_problem

PUB = "https://cdn.example.com/refs"


def _img(tmp_path, data: bytes, name: str = "product.png") -> InputImage:
    p = tmp_path / name
    p.write_bytes(data)
    return InputImage(path=p, digest=hashlib.sha256(data).hexdigest(), filename=name)


def _memory_target() -> str:
    return f"memory://uploads-{uuid.uuid4().hex}/refs"


def test_url_for_uploads_once_by_content(tmp_path):
    target = _memory_target()
    up = Uploader(target, PUB + "/")
    data = b"\x89PNG fake bytes"
    img = _img(tmp_path, data)
    digest = hashlib.sha256(data).hexdigest()

    url = asyncio.run(up.url_for(img))
    assert url == f"{PUB}/{digest}.png"
    fs, root = fsspec.core.url_to_fs(target)
    assert fs.cat_file(f"{root}/{digest}.png") == data
    # no temp files left behind
    assert [p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)] == [f"{digest}.png"]

    # a second uploader (another run) finds it present and does not rewrite it
    fs.pipe_file(f"{root}/{digest}.png", b"sentinel")  # a re-upload would overwrite this
    url2 = asyncio.run(Uploader(target, PUB).url_for(_img(tmp_path, data, "other.png")))
    assert url2 == url
    assert fs.cat_file(f"{root}/{digest}.png") == b"sentinel"


def test_url_names_the_bytes_not_the_stated_digest(tmp_path):
    up = Uploader(_memory_target(), PUB)
    data = b"jpeg-ish"
    p = tmp_path / "a.JPG"
    p.write_bytes(data)
    img = InputImage(path=p, digest="0" * 64, filename="a.JPG")
    url = asyncio.run(up.url_for(img))
    assert url == f"{PUB}/{hashlib.sha256(data).hexdigest()}.jpg"


def test_concurrent_uploads_of_same_content(tmp_path):
    target = _memory_target()
    up = Uploader(target, PUB)
    img = _img(tmp_path, b"same", "x.webp")

    async def many():
        return await asyncio.gather(*(up.url_for(img) for _ in range(8)))

    urls = asyncio.run(many())
    assert len(set(urls)) == 1 and urls[0].endswith(".webp")
    fs, root = fsspec.core.url_to_fs(target)
    assert len(fs.ls(root, detail=False)) == 1


def test_local_directory_target(tmp_path):
    target = tmp_path / "bucket" / "refs"
    up = Uploader(str(target), PUB)
    img = _img(tmp_path, b"abc")
    url = asyncio.run(up.url_for(img))
    name = url.rsplit("/", 1)[-1]
    assert (target / name).read_bytes() == b"abc"
    assert [p.name for p in target.iterdir()] == [name]


@pytest.mark.parametrize(
    "url,ours",
    [
        (f"{PUB}/abc.png", True),
        ("https://CDN.example.com/refs/sub/abc.png", True),
        ("https://cdn.example.com:443/refs/abc.png", True),
        ("http://cdn.example.com/refs/abc.png", False),  # not https
        ("https://cdn.example.com/refs", False),  # the folder itself
        ("https://cdn.example.com/refs/", False),
        ("https://cdn.example.com/refsx/abc.png", False),  # prefix of a name is not a folder
        ("https://cdn.example.com/refs/../secret.png", False),
        ("https://cdn.example.com/refs/%2e%2e/secret.png", False),
        ("https://cdn.example.com.evil.net/refs/abc.png", False),
        ("https://evil.net/refs/abc.png", False),
        ("https://cdn.example.com@evil.net/refs/abc.png", False),
        ("https://user:pw@cdn.example.com/refs/abc.png", False),
        ("https://cdn.example.com:8443/refs/abc.png", False),
        ("data:image/png;base64,AAAA", False),
        ("https://localhost/refs/abc.png", False),
        ("", False),
    ],
)
def test_is_ours(url, ours):
    assert Uploader(_memory_target(), PUB).is_ours(url) is ours


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png;base64,AAAA",
        "http://cdn.example.com/a.png",
        "ftp://cdn.example.com/a.png",
        "https://localhost/a.png",
        "https://LOCALHOST./a.png",
        "https://foo.localhost/a.png",
        "https://127.0.0.1:8080/a.png",
        "https://127.1/a.png",
        "https://2130706433/a.png",
        "https://0x7f.0.0.1/a.png",
        "https://10.1.2.3/a.png",
        "https://192.168.0.5/a.png",
        "https://172.16.0.1/a.png",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/a.png",
        "https://[::ffff:127.0.0.1]/a.png",
        "https://[fd00::1]/a.png",
        "https://0.0.0.0/a.png",
        "https:///a.png",
        "https://a b.com/x.png",
        "https://u:p@cdn.example.com/a.png",
    ],
)
def test_public_url_problem_refuses(url):
    assert public_url_problem(url)


@pytest.mark.parametrize("url", ["https://cdn.example.com/refs/a.png", "https://8.8.8.8/a.png", "https://a.b-c.io:8443/x"])
def test_public_url_problem_accepts(url):
    assert public_url_problem(url) is None


@pytest.mark.parametrize("pub", ["http://cdn.example.com/refs", "https://127.0.0.1/refs", "data:x", "https://localhost/x"])
def test_public_url_must_be_public_https(pub):
    with pytest.raises(ValueError):
        Uploader(_memory_target(), pub)
