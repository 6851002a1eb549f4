"""The HTTP layer: one pooled session per Connector (``transport``), the retry loop
(``retrying``) and every retry verdict (``retry``), answers as errors or JSON (``statuses``),
bodies against the size cap (``body``), the exchange deadline (``deadline``) and SSE (``sse``);
``client`` puts them together."""
