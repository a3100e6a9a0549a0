let k = "key"; in
{
  ${k}.sub = 1;
  "${k}2".sub = 2;
  a.${k} = 3;
}
