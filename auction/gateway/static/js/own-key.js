// A key of one's own, kept in this browser: what lets a buyer read their sealed tender bids before the close and
// an officer open their share of a tender's key, without the house being able to do either.
//
// The key pair is X25519, generated here by WebCrypto with its private half non-extractable: no script, this
// page's included, can read it out; it can only be used to open what was sealed to its public half. The pair is
// kept in IndexedDB (a CryptoKey is stored as itself, not as bytes), under a name per account and purpose, so
// two people using one browser keep apart. Clearing the site's data loses it: copies sealed to it can't be
// opened any more (the bids stand; the receipts still check them).
//
// What it opens is auction.tender.sealing.seal_for_browser's seal: base64 of an ephemeral public key (32
// bytes), an IV (12) and AES-256-GCM ciphertext, its key HKDF-SHA256 of the X25519 secret (salt: the
// ephemeral public key then ours; info BROWSER_INFO), the place bound as associated data.
//
// Exports
//   ownKey(name, {create = true}) -> Promise<{privateKey, publicKey, publicText, fingerprint}|null>
//       this browser's key pair called `name` ("buyer:12", "officer:7"), made and kept if there is none and
//       `create`; null without one (or without IndexedDB or X25519 in this browser, `create` false)
//   openSeal(key, sealed, where) -> Promise<string>   the text sealed to `key` (an ownKey answer; padding
//       trimmed); throws if it does not open with this key at this place
//   fingerprint(rawPublic) -> Promise<string>   "abcd 0123 ..." as the house shows keys (officers.fingerprint)
//   sha256Hex(text) -> Promise<string>
//   KeyUnavailable: thrown when this browser can't keep a key (no IndexedDB, no X25519)

const DB_NAME = "auction-own-keys";
const STORE = "keys";
const BROWSER_INFO = "diamond-auction browser seal v1";
const KEY_BYTES = 32;
const IV_BYTES = 12;

export class KeyUnavailable extends Error {}

function request(operation) {
  return new Promise((resolve, reject) => {
    operation.onsuccess = () => resolve(operation.result);
    operation.onerror = () => reject(operation.error);
  });
}

async function database() {
  if (!globalThis.indexedDB) throw new KeyUnavailable("this browser keeps no keys (no IndexedDB)");
  const opening = indexedDB.open(DB_NAME, 1);
  opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
  return request(opening);
}

async function stored(name) {
  const db = await database();
  try {
    return await request(db.transaction(STORE).objectStore(STORE).get(name));
  } finally {
    db.close();
  }
}

async function keep(name, pair) {
  const db = await database();
  try {
    await request(db.transaction(STORE, "readwrite").objectStore(STORE).put(pair, name));
  } finally {
    db.close();
  }
}

function base64(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)));
}

function bytesOf(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function fingerprint(rawPublic) {
  const digest = await crypto.subtle.digest("SHA-256", rawPublic);
  const hex = [...new Uint8Array(digest)].slice(0, 8).map((b) => b.toString(16).padStart(2, "0")).join("");
  return hex.match(/.{4}/g).join(" ");
}

async function described(pair) {
  const raw = await crypto.subtle.exportKey("raw", pair.publicKey);  // a public key is always exportable
  return {privateKey: pair.privateKey, publicKey: pair.publicKey, publicText: base64(raw),
    fingerprint: await fingerprint(raw)};
}

export async function ownKey(name, {create = true} = {}) {
  let pair = await stored(name);
  if (!pair && create) {
    if (!crypto.subtle) throw new KeyUnavailable("this page is not a secure context: WebCrypto is off");
    try {
      pair = await crypto.subtle.generateKey({name: "X25519"}, false, ["deriveBits"]);  // private: non-extractable
    } catch (exc) {
      throw new KeyUnavailable(`this browser can't make an X25519 key (${exc.name})`);
    }
    await keep(name, pair);
  }
  return pair ? described(pair) : null;
}

export async function openSeal(key, sealed, where) {
  const raw = bytesOf(sealed);
  const ephemeral = raw.slice(0, KEY_BYTES);
  const iv = raw.slice(KEY_BYTES, KEY_BYTES + IV_BYTES);
  const body = raw.slice(KEY_BYTES + IV_BYTES);
  const ours = bytesOf(key.publicText);
  const theirs = await crypto.subtle.importKey("raw", ephemeral, {name: "X25519"}, false, []);
  const shared = await crypto.subtle.deriveBits({name: "X25519", public: theirs}, key.privateKey, 256);
  const hkdf = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const info = new TextEncoder().encode(BROWSER_INFO);
  const aes = await crypto.subtle.deriveKey({name: "HKDF", hash: "SHA-256", salt: new Uint8Array([...ephemeral, ...ours]), info},
    hkdf, {name: "AES-GCM", length: 256}, false, ["decrypt"]);
  const plain = await crypto.subtle.decrypt({name: "AES-GCM", iv, additionalData: new TextEncoder().encode(where)},
    aes, body);
  return new TextDecoder().decode(plain).replace(/ +$/, "");
}
