# Varnish caching in front of tessera-origin: the caching peer of
# loadtest/run-cache.sh. Only the backend is declared; everything else is the
# built-in VCL, i.e. Varnish's defaults: GET/HEAD without Authorization or Cookie
# are looked up, and a response's TTL comes from its Cache-Control (s-maxage,
# max-age) or Expires (default_ttl when it has neither).
# TEMPLATE: run-cache.sh replaces @ORIGIN_HOST@ and @ORIGIN_PORT@ and starts
#   varnishd -F -n DIR -a 127.0.0.1:PORT -f FILE -s malloc,256m -T none
# from a temporary directory.
vcl 4.1;

backend origin {
    .host = "@ORIGIN_HOST@";
    .port = "@ORIGIN_PORT@";
    .connect_timeout = 1s;
    .first_byte_timeout = 5s;
    .between_bytes_timeout = 5s;
}
