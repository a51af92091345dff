# One build description for every native artefact (see docs/architecture.md):
#   bpftime_core                 maps, helpers, interpreter, rings: shared by all three below
#   libbpftime-syscall-server.so the shim preloaded into stock tools
#   libbpftime-agent.so          the agent preloaded/injected into traced processes
#   libbpftime-early.so          its LD_AUDIT stage: what the loader does before the agent runs
#   bpftime_addon.node           the N-API addon the TypeScript server uses (and the CLI: the
#                                ptrace injector of src-native/inject for `bpftime attach`)
# scripts/copy-libs.js then places the libraries at their stable paths in build/lib/.
{
  "target_defaults": {
    "cflags": ["-fPIC", "-O2", "-g", "-Wall", "-Wno-unused-parameter", "-fvisibility=hidden"],
    "cflags_c": ["-std=gnu11"],
    "include_dirs": ["src-native/include"],
    "defines": ["_GNU_SOURCE"],
    # Thread-locals of code in a shared library are reached through __tls_get_addr, a call per
    # access (a fifth of a uprobe hit's time went there); with TLS descriptors an access is a load
    # and an indirect call that returns the offset, once the library's TLS is static, as it is for
    # a preloaded or injected agent and for the shim.
    "conditions": [["target_arch=='x64'", {"cflags": ["-mtls-dialect=gnu2"]}]]
  },
  "targets": [
    {
      "target_name": "bpftime_core",
      "type": "static_library",
      "sources": ["<!@(find src-native/core -name '*.c' | sort)"]
    },
    {
      # The same core for the agent, with initial-exec thread-locals: an access is one load from
      # %fs instead of a call through the TLS descriptor (the uprobe hit's run state and the pid
      # cache each paid one). The agent's TLS is static anyway (it has initial-exec variables of
      # its own; ~200 bytes, within glibc's surplus for an injected agent).
      "target_name": "bpftime_core_ie",
      "type": "static_library",
      "cflags": ["-ftls-model=initial-exec"],
      "sources": ["<!@(find src-native/core -name '*.c' | sort)"]
    },
    {
      "target_name": "bpftime-syscall-server",
      "type": "shared_library",
      "product_prefix": "lib",
      "dependencies": ["bpftime_core"],
      "sources": ["<!@(find src-native/shim -name '*.c' | sort)"],
      "ldflags": ["-Wl,--no-undefined"],
      "libraries": ["-ldl", "-lpthread"]
    },
    {
      "target_name": "bpftime-agent",
      "type": "shared_library",
      "product_prefix": "lib",
      "dependencies": ["bpftime_core_ie"],
      "cflags": ["-ftls-model=initial-exec"],
      "sources": ["<!@(find src-native/agent -name '*.c' -o -name '*.S' | sort)"],
      "ldflags": ["-Wl,--no-undefined"],
      "libraries": ["-lZydis", "-ldl", "-lpthread"]
    },
    {
      # libbpftime-early.so: the LD_AUDIT module that records what the loader does before the
      # agent runs (src-native/early); no C library, so nothing of the above.
      "target_name": "bpftime-early",
      "type": "shared_library",
      "product_prefix": "lib",
      "sources": ["src-native/early/early.c"],
      "cflags": ["-fno-stack-protector", "-ffreestanding", "-fno-tree-loop-distribute-patterns"],
      "ldflags": ["-nostdlib", "-Wl,--no-undefined"]
    },
    {
      "target_name": "bpftime_addon",
      "dependencies": ["bpftime_core"],
      "sources": ["<!@(find src-native/addon -name '*.cc' | sort)", "<!@(find src-native/inject -name '*.c' | sort)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17"]
    }
  ]
}
