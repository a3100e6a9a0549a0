# <name> is sugar for `__findFile __nixPath "name"`, resolved lexically: a
# local __findFile (or __nixPath) changes what it means.
[ (let __findFile = sp: name: "custom-${name}"; in <anything/here>) (let __nixPath = [ { prefix = "x"; path = toString ./data; } ]; in builtins.readFile <x/hello.txt>) ]
