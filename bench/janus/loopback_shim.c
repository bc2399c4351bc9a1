/* LD_PRELOAD shim for the media benchmark (issue 8).
 *
 * Janus leaves every interface flagged IFF_LOOPBACK out of its ICE
 * candidates, so on a loopback-only benchmark it offers nothing a local peer
 * can reach. This getifaddrs() calls the real one and clears IFF_LOOPBACK on
 * the IPv4 127.0.0.1 entry only, so Janus gathers a 127.0.0.1 host candidate.
 * `loadgen/src/janus.rs` builds it with:
 *   gcc -shared -fPIC -O2 -o loopback_shim.so loopback_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>

typedef int (*getifaddrs_fn)(struct ifaddrs **);

int getifaddrs(struct ifaddrs **ifap) {
	static getifaddrs_fn real = NULL;
	getifaddrs_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
	if (f == NULL) {
		f = (getifaddrs_fn)dlsym(RTLD_NEXT, "getifaddrs");
		if (f == NULL) {
			errno = ENOSYS;
			return -1;
		}
		__atomic_store_n(&real, f, __ATOMIC_RELEASE);
	}
	int rc = f(ifap);
	if (rc != 0)
		return rc;
	for (struct ifaddrs *i = *ifap; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
			continue;
		const struct sockaddr_in *a = (const struct sockaddr_in *)i->ifa_addr;
		if ((i->ifa_flags & IFF_LOOPBACK) && a->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
			i->ifa_flags &= ~IFF_LOOPBACK;
	}
	return 0;
}
