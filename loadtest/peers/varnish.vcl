# Varnish as a pass-through proxy in front of tessera-origin: every request is
# passed (never cached), so it measures Varnish's proxying, like nginx-proxy.conf.
# TEMPLATE: loadtest/run.sh replaces @ORIGIN_HOST@ and @ORIGIN_PORT@ and starts
#   varnishd -F -n DIR -a 127.0.0.1:PORT -f FILE -s malloc,256m
# from a temporary directory.
vcl 4.1;

backend origin {
    .host = "@ORIGIN_HOST@";
    .port = "@ORIGIN_PORT@";
    .connect_timeout = 1s;
    .first_byte_timeout = 5s;
    .between_bytes_timeout = 5s;
}

sub vcl_recv {
    set req.backend_hint = origin;
    return (pass);
}
