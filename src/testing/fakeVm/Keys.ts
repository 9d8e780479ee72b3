/**
 * ed25519 key pairs in OpenSSH format for the fake fleet (the VMs' client keys and host keys).
 *
 * ssh2 1.17's `generateKeyPairSync("ed25519")` writes a public key whose first byte is 0 as if
 * it were an integer (leading zero dropped: 31 bytes), so about one pair in 256 is "Malformed"
 * to ssh2's own parser — a flake in every test that makes a few dozen VMs. Such pairs are
 * drawn again.
 */
import ssh2 from "ssh2"

const parses = (key: string) => !(ssh2.utils.parseKey(key) instanceof Error)

/** A pair both halves of which ssh2 (and OpenSSH) parse. */
export const ed25519KeyPair = (): { readonly private: string; readonly public: string } => {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync("ed25519")
    if (parses(pair.private) && parses(pair.public)) return { private: pair.private, public: pair.public }
  }
}
