#!/usr/bin/env python3
"""Writes the seed corpora in corpus/<target>/ (standard library only; run from anywhere).

The signed seeds use src/lib.rs's SECRET and expire in 2100, so they stay valid. Files it does not
make (inputs the fuzzer found, kept as regressions) are left alone."""
import base64, hashlib, hmac, json, os

SECRET = b"fuzzing-secret-of-at-least-32-bytes!"
EXP, IAT = 4102444800, 1700000000  # 2100-01-01, 2023-11-14
HERE = os.path.dirname(os.path.abspath(__file__))


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt(claims, header=None, key=SECRET, alg="sha256") -> str:
    header = header or {"alg": "HS256", "typ": "JWT"}
    msg = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(
        json.dumps(claims, separators=(",", ":")).encode()
    )
    sig = hmac.new(key, msg.encode(), getattr(hashlib, alg)).digest()
    return msg + "." + b64(sig)


ANN = jwt({"sub": "ann", "exp": EXP, "iat": IAT, "scopes": ["admin"]})
BOB = jwt({"sub": "bob@e.mail", "exp": EXP, "iat": IAT})
NOBODY = jwt({"sub": "nobody", "exp": EXP, "iat": IAT})
STRICT = jwt({"sub": "ann", "exp": EXP, "iat": IAT, "iss": "fuzz-issuer", "aud": "fuzz-audience"})
BAD_SIG = ANN[:-4] + ("AAAA" if not ANN.endswith("AAAA") else "BBBB")
EXPIRED = jwt({"sub": "ann", "exp": 1000000000})
NONE_ALG = b64(b'{"alg":"none","typ":"JWT"}') + "." + ANN.split(".")[1] + "."

seeds = {
    "decode": {
        "valid": ANN,
        "valid_no_scopes": BOB,
        "valid_strict": STRICT,
        "bad_signature": BAD_SIG,
        "expired": EXPIRED,
        "alg_none": NONE_ALG,
        "hs512": jwt({"sub": "ann", "exp": EXP}, {"alg": "HS512", "typ": "JWT"}, alg="sha512"),
        "crit": jwt({"sub": "ann", "exp": EXP}, {"alg": "HS256", "crit": ["exp"]}),
        "future_iat": jwt({"sub": "ann", "exp": EXP, "iat": EXP - 10}),
        "string_scopes": jwt({"sub": "ann", "exp": EXP, "scopes": "admin"}),
        "aud_list": jwt({"sub": "ann", "exp": EXP, "iss": "fuzz-issuer", "aud": ["x", "fuzz-audience"]}),
        "no_sub": jwt({"exp": EXP}),
        "float_exp": jwt({"sub": "ann", "exp": 1e300}),
        "garbage": "a.b.c",
        "dots": "....",
    },
    "header": {
        "bearer": "Bearer abc",
        "bearer_spaces_and_cookie": "bearer   abc  \naccess-token=tok; x=1",
        "basic": "Basic dXNlcjpwYXNz",
        "cookies_only": "\naccess-token=\"q\"\nother=1; access-token=2",
        "empty_token": "Bearer  \naccess-token=",
        "tab": "Bearer\tabc\n a = b ;c=d",
        "obs_text": b"Bearer \xff\xfe\naccess-token=\xc3\xa9",
    },
    "extract": {
        "header_token": "Bearer " + ANN,
        "cookie_token": "\naccess-token=" + BOB,
        "quoted_cookie": '\nx=1; access-token="' + ANN + '"',
        "header_unknown_user_cookie_good": "Bearer " + NOBODY + "\naccess-token=" + ANN,
        "header_bad_cookie_good": "Bearer " + BAD_SIG + "\naccess-token=" + ANN,
        "expired": "Bearer " + EXPIRED,
        "alg_none": "Bearer " + NONE_ALG,
        "garbage": "Bearer x.y.z\naccess-token=1",
    },
    # `arbitrary`'s encoding of roundtrip's Input: bytes the fuzzer reshapes quickly.
    "roundtrip": {
        "zeros": b"\x00" * 16,
        "ascii": b"ann\x03admin\x01\x02name\x00\x04Ann Doe\x01\x10\x0e\x00\x00\x00\x00\x00\x00\x01",
        "reserved": b"sub-x\x01\x01\x00\x01\x05\x01\x01\x00",
        "ones": b"\x01" * 40,
        "mixed": bytes(range(64)),
    },
}

for target, files in seeds.items():
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    for name, content in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
