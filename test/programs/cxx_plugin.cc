// A C++ library for test/programs/cxx_plugin_host.c, which dlopens it RTLD_LOCAL: its C++
// runtime (libstdc++, libgcc_s) is then outside the global symbol scope, where the preloaded
// agent's unwinder wrappers (src-native/agent/attach/unwind.c) stand in front of it.
#include <stdexcept>

// Throws for odd i; the return probe of the test counts the even ones.
extern "C" __attribute__((noinline)) int plugin_thrower(int i)
{
	if (i & 1)
		throw std::runtime_error("odd");
	return i;
}

extern "C" int plugin_run(int n)
{
	int caught = 0;
	for (int i = 0; i < n; i++) {
		try {
			plugin_thrower(i);
		} catch (const std::exception &) {
			caught++;
		}
	}
	return caught;
}
