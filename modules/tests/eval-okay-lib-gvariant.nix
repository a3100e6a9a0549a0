# lib.gvariant (the reference's examples, printed in GLib's GVariant text format) and
# lib.generators.toDconfINI.
let lib = import ../lib; g = lib.gvariant; in
[ (toString (g.mkArray [ "a" "b" "c" ])) (toString (g.mkEmptyArray g.type.string))
  (toString (g.mkArray [ (g.mkVariant "a string") (g.mkVariant (g.mkInt32 1)) ]))
  (map toString [ (g.mkDictionaryEntry "url" (g.mkVariant "https://duckduckgo.com/?q=%s&t=epiphany")) (g.mkNothing "s") (g.mkJust "x") (g.mkTuple [ 1.5 true "it's" ]) (g.mkUint32 7) (g.mkObjectpath "/a") (g.mkUchar 3) ])
  (lib.generators.toDconfINI { "org/gnome/desktop/peripherals/touchpad" = { tap-to-click = true; speed = 0.5; name = "a'b"; n = g.mkInt32 3; list = [ "x" ]; }; })
  (builtins.tryEval (g.mkValue 3)).success
]
