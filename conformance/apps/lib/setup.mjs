// The apps tests start their own herald per file, from a configuration file, and give every
// client its URL. The interop libraries want a default endpoint at import: it is set here,
// before they load (lib/peers.mjs imports this first), to a closed port, so a client
// opened without a URL fails at once.
process.env.BAYEUX_URL ||= 'http://127.0.0.1:9/cometd';
