# SPDX-License-Identifier: MIT
# The N-API addons: ffwall.node wraps /dev/ffwall's ioctls; notify.node sends
# unix datagrams for the daemon's sd_notify (src/daemon/notify.ts).  Built by
# scripts/build-addon.mjs against the local Node headers (no download).
{
  "targets": [
    {
      "target_name": "ffwall",
      "sources": ["addon/ffwall.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "kmod"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Werror"]
    },
    {
      "target_name": "notify",
      "sources": ["addon/notify.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
