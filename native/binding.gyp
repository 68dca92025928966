{
  "targets": [
    {
      "target_name": "greoip",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/tap.cc",
        "src/link.cc",
        "src/rawsock.cc",
        "src/batch.cc",
        "src/netlink.cc",
        "src/bpf.cc",
        "src/netns.cc",
        "src/unixdgram.cc"
      ],
      "libraries": ["<!(node check-libbpf.cjs)"],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-Wall", "-Wextra", "-Werror"],
      "cflags_cc": ["-std=gnu++17", "-fexceptions", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
