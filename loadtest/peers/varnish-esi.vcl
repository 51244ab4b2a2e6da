# Varnish composing pages with ESI: the Varnish peer of loadtest/run-compose.sh.
# A page (/hot/42, /cold/42?k=..., /latency/42?k=...) is a static skeleton that
# nginx serves (peers/nginx-ssi.conf, its @SKEL_PORT@ server, Cache-Control:
# max-age=600) holding six <esi:include src="/api/..."/>; each include is a
# sub-request through this VCL to the origin. The fragments' JSON goes into the
# page as it is: nothing is templated.
# What Varnish caches, by its design: the skeleton, already parsed for ESI, and
# each fragment, as separate objects; the page itself is assembled again for
# every request (one lookup per include). Open-source Varnish runs the includes
# of a page one after the other (parallel ESI is a Varnish Enterprise feature).
# Fragments are cached as the origin's Cache-Control says (the built-in VCL):
# max-age=600 for hot; cc=no-store for cold and latency, which makes them
# hit-for-miss objects.
# Cold and latency pages carry ?k=UNIQUE, so that the skeleton misses; the
# includes get the same k (from req_top.url), so every fragment URL is new too,
# as run-compose.sh does for Tessera (the fragments' `query = { "k" }`) and
# nginx ($arg_k in the SSI skeleton).
# TEMPLATE: run-compose.sh replaces @ORIGIN_HOST@, @ORIGIN_PORT@ and @SKEL_PORT@
# and starts
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

backend skeletons {
    .host = "127.0.0.1";
    .port = "@SKEL_PORT@";
    .connect_timeout = 1s;
    .first_byte_timeout = 5s;
    .between_bytes_timeout = 5s;
}

sub vcl_recv {
    if (req.url ~ "^/api/") {
        set req.backend_hint = origin;
        if (req.esi_level > 0 && req_top.url ~ "[?&]k=") {
            set req.url = req.url + "&k=" + regsub(req_top.url, "^.*[?&]k=([^&]*).*$", "\1");
        }
    } else {
        set req.backend_hint = skeletons;
    }
    # then the built-in vcl_recv: a GET without Authorization or Cookie is looked up
}

sub vcl_backend_response {
    if (bereq.backend == skeletons) {
        set beresp.do_esi = true;
    }
    # then the built-in vcl_backend_response: TTL from Cache-Control
}
