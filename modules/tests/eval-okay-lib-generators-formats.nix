# lib.generators: Lua, property lists, Dhall, depth limits and toPretty's forms (the
# reference's toLua example; the others written from the formats the reference names).
let
  lib = import ../lib;
  inherit (lib) generators;
in
[
  (generators.toLua { } {
    cmd = [ "typescript-language-server" "--stdio" ];
    settings.workspace.library = generators.mkLuaInline ''vim.api.nvim_get_runtime_file("", true)'';
  })
  (generators.toLua { multiline = false; } [ 1 null true "a" [ ] { } ])
  (generators.toLua { asBindings = true; } { a = 1; "b.c" = [ "x" ]; })
  (generators.toPlist { escape = true; } { name = "a<b"; list = [ 1 true ]; gone = null; f = 1.5; })
  (generators.toDhall { } { a = 1; b = -2; c = [ true "x" ]; })
  (generators.withRecursion { depthLimit = 1; throwOnDepthLimit = false; } { a.b.c = 1; l = [ [ 1 ] ]; })
  (builtins.tryEval (builtins.deepSeq (generators.withRecursion { depthLimit = 1; } { a.b.c = 1; }) 0)).success
  (generators.toPretty { } "a\nb\n")
  (generators.toPretty { } "a$b \${c} \"d\"")
  (generators.toPretty { } ({ x, y ? 1 }: x))
  (generators.toPretty { } 0.5)
]
