/* Teaches libtracecmd to read zlib-compressed trace.dat files (Debian builds it without zlib). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tdat.h"

/*
 * libtracecmd chooses a file's codec from a list that its constructor fills
 * with the codecs it was built with; Debian's 3.1.6 was built without zlib,
 * so tracecmd_open() rejects a zlib-compressed v7 file ("Unsupported file
 * compression"). The library exports tracecmd_compress_proto_register() and
 * tracecmd_compress_is_supported(), but declares them, and the structure
 * below, only in its private header (lib/trace-cmd/include/private/
 * trace-cmd-private.h), which no Debian package installs. So the structure
 * is declared here, with the layout of that header: unchanged since its
 * hooks got a context argument (trace-cmd commit bafc3657, March 2022, in
 * 3.0, the first release to write v7 files) through 3.1.6 and up to
 * trace-cmd 3.4 (February 2026). The library copies the fields it needs at
 * registration, so the structure may live on the stack.
 *
 * Registering a codec beats transcoding the file to zstd or none: nothing
 * is rewritten (a trace can be hundreds of MB), no second copy needs disk
 * space, and libtracecmd itself still parses the whole file; a library
 * that already has zlib is left alone.
 */
struct tracecmd_compression_proto {
	int weight;
	const char *name;
	const char *version;
	int (*compress)(void *ctx, const void *in, int in_bytes, void *out, int out_bytes);
	int (*uncompress)(void *ctx, const void *in, int in_bytes, void *out, int out_bytes);
	unsigned int (*compress_size)(void *ctx, unsigned int bytes);
	bool (*is_supported)(const char *name, const char *version);
	void *(*new_context)(void);
	void (*free_context)(void *ctx);
};

int tracecmd_compress_proto_register(struct tracecmd_compression_proto *proto);
bool tracecmd_compress_is_supported(const char *name, const char *version);

/* Weight as trace-cmd's own zlib codec: zstd (5) stays preferred when writing. */
#define ZLIB_WEIGHT	10

static int zlib_errno(int ret)
{
	switch (ret) {
	case Z_MEM_ERROR:
		return ENOMEM;
	case Z_BUF_ERROR:
		return ENOBUFS;
	default:
		return EINVAL;
	}
}

static int zlib_compress(void *ctx, const void *in, int in_bytes, void *out, int out_bytes)
{
	uLongf len = (uLongf)out_bytes;
	int ret;

	(void)ctx;
	if (in_bytes < 0 || out_bytes < 0) {
		errno = EINVAL;
		return -1;
	}
	ret = compress2(out, &len, in, (uLong)in_bytes, Z_DEFAULT_COMPRESSION);
	if (ret != Z_OK) {
		errno = zlib_errno(ret);
		return -1;
	}
	return (int)len;
}

static int zlib_uncompress(void *ctx, const void *in, int in_bytes, void *out, int out_bytes)
{
	uLongf len = (uLongf)out_bytes;
	int ret;

	(void)ctx;
	if (in_bytes < 0 || out_bytes < 0) {
		errno = EINVAL;
		return -1;
	}
	ret = uncompress(out, &len, in, (uLong)in_bytes);
	if (ret != Z_OK) {
		errno = zlib_errno(ret);
		return -1;
	}
	return (int)len;
}

static unsigned int zlib_bound(void *ctx, unsigned int bytes)
{
	(void)ctx;
	return (unsigned int)compressBound(bytes);
}

/* "zlib" of any version whose major number is not newer than ours. */
static bool zlib_supported(const char *name, const char *version)
{
	if (!name || strcmp(name, "zlib"))
		return false;
	return !version || atoi(version) <= atoi(zlibVersion());
}

int tdat_register_zlib(void)
{
	struct tracecmd_compression_proto proto = {
		.weight = ZLIB_WEIGHT,
		.name = "zlib",
		.version = zlibVersion(),
		.compress = zlib_compress,
		.uncompress = zlib_uncompress,
		.compress_size = zlib_bound,
		.is_supported = zlib_supported,
	};

	if (tracecmd_compress_is_supported("zlib", NULL))
		return 0;
	if (tracecmd_compress_proto_register(&proto) < 0 ||
	    !tracecmd_compress_is_supported("zlib", NULL)) {
		errno = ENOTSUP;
		return -1;
	}
	return 0;
}
