// Translation unit of the shared precompiled header (torch, json): every target reuses it.
