# Recomputes the known answers of atrest_test.go TestKnownAnswer with libsodium
# (an implementation independent of Go's): python3 store/atrest/testdata/libsodium_check.py
import ctypes, hashlib
s = ctypes.CDLL("libsodium.so.23"); s.sodium_init()
def xseal(key, nonce, msg, ad):
    out = ctypes.create_string_buffer(len(msg)+16); outlen = ctypes.c_ulonglong()
    assert s.crypto_aead_xchacha20poly1305_ietf_encrypt(out, ctypes.byref(outlen), msg, ctypes.c_ulonglong(len(msg)), ad, ctypes.c_ulonglong(len(ad)), None, nonce, key) == 0
    return out.raw[:outlen.value]
key = bytes(range(32)); pw = b"correct horse battery staple"
salt = b"\x42"*16; nonce = b"\x42"*24
wk = ctypes.create_string_buffer(32)
assert s.crypto_pwhash(wk, ctypes.c_ulonglong(32), pw, ctypes.c_ulonglong(len(pw)), salt, ctypes.c_ulonglong(1), ctypes.c_size_t(64*1024), ctypes.c_int(2)) == 0
head = b"BRTK" + bytes([1,1]) + (1).to_bytes(4,"big") + (64).to_bytes(4,"big") + bytes([1]) + salt
print((head + nonce + xseal(wk.raw, nonce, key, head)).hex())
uk = hashlib.sha256(b"berty at-rest unprotected data key v1").digest()
uhead = b"BRTK" + bytes([1,0]) + bytes(9) + bytes(16); un = b"\x24"*24
print((uhead + un + xseal(uk, un, key, uhead)).hex())
