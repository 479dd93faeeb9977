-- relua: explains neural networks. The module table is the C core
-- (relua.core: tensors, ops, layer functions, backward) plus the Lua parts:
-- relua.class, relua.nn, relua.grad.
local relua = require "relua.core"
return relua
