# The @-bound set is the argument as passed: defaults are NOT added to it.
let f = args@{ a ? "default", b }: [ a (args ? a) (builtins.attrNames args) ]; in f { b = 1; }
