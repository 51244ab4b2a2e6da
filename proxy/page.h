/* SPDX-License-Identifier: Apache-2.0
 *
 * page: routes with a `template` (page routes). A request is classified into its
 * channel (channel.h), looked up in the memory cache under a key that includes
 * the channel, and on a miss composed: the route's fragments are fetched in
 * parallel (compose.h), JSON fragments become data under their name, HTML ones
 * strings, a failed optional fragment its `fallback` (or nothing), and the
 * channel's template renders the page (render/tpl.h). A failed required
 * fragment gives the route's error page (502, or 503 when it timed out), never
 * a partial page with 200. The page is stored like an origin's response: its
 * lifetime is the shortest of its fragments' unless the route sets `ttl`, and
 * it carries the union of their Surrogate-Key tags and a Vary naming the fields
 * the channel rules read.
 *
 * Thread: the worker of the request.
 */
#ifndef TESSERA_PAGE_H
#define TESSERA_PAGE_H

struct req;
struct h1_msg;
struct route_match;
struct up_target;

/* Sets r's channel from the configuration's channel rules (page_dispatch does it
 * when nothing did before). */
void page_classify(struct req *r, const struct h1_msg *m, const struct up_target *t);

/* Serves a request on a page route (rm->route->template is set). */
void page_dispatch(struct req *r, const struct route_match *rm, const struct h1_msg *m,
                   const struct up_target *t);

#endif
