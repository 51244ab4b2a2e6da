/* temporary: replaced by page.c once the template engine is linked */
#include "page.h"

#include "worker_int.h"

void page_dispatch(struct req *r, const struct route_match *rm, const struct h1_msg *m,
                   const struct up_target *t)
{
    (void)rm;
    (void)m;
    (void)t;
    r->ops->respond(r, 501, "", "page routes are not built in", 0);
}
