{
  "targets": [
    {
      "target_name": "cninative",
      "sources": ["lib/native/cninative.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
