"""The fetch stage, between read and decode: image bytes behind http(s)
URLs, fetched politely (bounded per machine and per host, retries that
honour Retry-After, opt-outs and robots.txt) and safely (no private or
metadata addresses, checked on the address actually connected to, on every
redirect hop). Small pure policies (``addresses``, ``retries``,
``opt_out``), the cross-process limits (``limits``), the client
(``client``) and the thin DoFn (``dofn``)."""
