package pdf

// This is github.com/ledongthuc/pdf v0.0.0-20260907135840-6c8c28e0e8a0
// (BSD, see LICENSE), copied so that it could be hardened against hostile
// files: the upstream code recursed into a fatal stack overflow on an object
// stream listed inside itself (a 200-byte file ended the whole gateway) and
// looped forever on cyclic Prev, Extends and Parent chains and on huge cmap
// counts. Every change is marked "genrouter:"; DebugOn became a constant.
