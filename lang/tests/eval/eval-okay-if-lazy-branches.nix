if true then "taken" else throw "not taken"
