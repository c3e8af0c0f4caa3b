# Checks core/seal/testdata/hybrid.json against an independent implementation:
# Python's cryptography (ML-KEM-768, X25519, HKDF-SHA256, ChaCha20-Poly1305) and
# HChaCha20 written out here (XChaCha20-Poly1305 = HChaCha20 subkey + ChaCha20-Poly1305).
# Run from the repository root: python3 core/seal/testdata/check_hybrid.py
import json, hashlib, struct
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

def rotl(v,c): return ((v<<c)&0xffffffff)|(v>>(32-c))
def qr(s,a,b,c,d):
    s[a]=(s[a]+s[b])&0xffffffff; s[d]^=s[a]; s[d]=rotl(s[d],16)
    s[c]=(s[c]+s[d])&0xffffffff; s[b]^=s[c]; s[b]=rotl(s[b],12)
    s[a]=(s[a]+s[b])&0xffffffff; s[d]^=s[a]; s[d]=rotl(s[d],8)
    s[c]=(s[c]+s[d])&0xffffffff; s[b]^=s[c]; s[b]=rotl(s[b],7)
def hchacha(key, nonce16):
    s=[0x61707865,0x3320646e,0x79622d32,0x6b206574]+list(struct.unpack('<8I',key))+list(struct.unpack('<4I',nonce16))
    for _ in range(10):
        qr(s,0,4,8,12);qr(s,1,5,9,13);qr(s,2,6,10,14);qr(s,3,7,11,15)
        qr(s,0,5,10,15);qr(s,1,6,11,12);qr(s,2,7,8,13);qr(s,3,4,9,14)
    return struct.pack('<8I',*(s[0:4]+s[12:16]))
def xopen(key, nonce, ct, ad):
    sub=hchacha(key, nonce[:16])
    return ChaCha20Poly1305(sub).decrypt(b'\0'*4+nonce[16:], ct, ad)
def krand(seed, n):
    out=b''; i=0
    while len(out)<n:
        out+=hashlib.sha256(seed+struct.pack('>Q',i)).digest(); i+=1
    return out[:n]
v=json.load(open('core/seal/testdata/hybrid.json'))
for vec in v['vectors']:
    inp, out = vec['in'], vec['out']
    rb=bytes.fromhex(inp['recipient'])
    x=X25519PrivateKey.from_private_bytes(rb[:32]); k=MLKEM768PrivateKey.from_seed_bytes(rb[32:])
    pub=x.public_key().public_bytes_raw()+k.public_key().public_bytes_raw()
    assert pub.hex()==out['public'], 'public'
    box=bytes.fromhex(out['box']); ct=box[:1088]; eph=box[1088:1120]; sealed=box[1120:]
    r=krand(bytes.fromhex(inp['rand_seed']), 88)
    assert X25519PrivateKey.from_private_bytes(r[:32]).public_key().public_bytes_raw()==eph, 'eph'
    assert sealed[:24]==r[64:88], 'nonce'
    ssK=k.decapsulate(ct); ssX=x.exchange(X25519PublicKey.from_public_bytes(eph))
    key=HKDF(algorithm=hashes.SHA256(), length=32, salt=eph+x.public_key().public_bytes_raw(), info=b'berty/v2/hybrid-box').derive(ssK+ssX)
    pt=xopen(key, sealed[:24], sealed[24:], bytes.fromhex(inp['ad']))
    assert pt.hex()==inp['plaintext'], 'plaintext'
    print('ok', vec['name'])
