builtins.functionArgs ({ a ? throw "not evaluated", b }: a)
