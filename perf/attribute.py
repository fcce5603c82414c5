#!/usr/bin/env python3
"""Charges perf samples of the moose binary to moose source lines.

Usage: attribute.py MOOSE_BINARY TOTAL_SAMPLES SYMS_FILE [N]

SYMS_FILE holds "count mangled_symbol+0xoffset" lines (from
`perf script --no-demangle -F ip,sym,symoff,dso`, filtered to the moose binary,
then sort | uniq -c); addresses are rebuilt from the binary's symbol table
(`nm`), so they do not depend on where perf thinks the binary was mapped.
Each address is
expanded with `addr2line -i` into its inline chain, and its samples are
charged to the innermost frame that lies in moose's own sources, so the cost
of inlined std/hashbrown code lands on the moose line that called it.
Percentages are of TOTAL_SAMPLES (all samples of the process).
"""
import subprocess, collections, re, sys
B=sys.argv[1]; total_all=int(sys.argv[2]); ipsf=sys.argv[3]
syms={}
for l in subprocess.run(["nm",B],capture_output=True,text=True).stdout.splitlines():
    f=l.split()
    if len(f)==3: syms.setdefault(f[2],int(f[0],16))
rows=[]
for l in open(ipsf):
    f=l.split()
    if len(f)!=2 or "+0x" not in f[1]: continue
    name,o=f[1].rsplit("+0x",1)
    if name not in syms: continue
    rows.append((f[0],"%x"%(syms[name]+int(o,16))))
off=0
addrs=["0x%x"%(int(a,16)+off) for _,a in rows]
out=subprocess.run(["addr2line","-f","-i","-C","-a","-e",B]+addrs,capture_output=True,text=True).stdout.splitlines()
chains={}; cur=None; i=0
while i<len(out):
    l=out[i]
    if re.match(r"^0x[0-9a-f]+$",l):
        cur=int(l,16); chains[cur]=[]; i+=1; continue
    chains[cur].append((l,out[i+1])); i+=2
agg=collections.Counter(); fine=collections.Counter(); tot=0
for (c,a) in rows:
    c=int(c); tot+=c
    ch=chains.get(int(a,16)+off,[])
    key="(other)"
    for fn,loc in ch:
        if re.search(r"moose-(dataplane|wire|dpdk)/src|dpdk_static_fns|main/src/", loc):
            key=loc.split(" (")[0].replace("/work/main/",""); break
    leaf=ch[0][1].split(" (")[0] if ch else "?"
    leaf=re.sub(r"^.*/(library|src)/","",leaf) if "moose" not in leaf else leaf.replace("/work/main/","")
    agg[key]+=c; fine[(key,leaf)]+=c
print("samples in moose binary: %d of %d (%.1f%%)"%(tot,total_all,100*tot/total_all))
print("--- by innermost moose source line (inlined std/hashbrown code charged to its moose caller)")
for k,v in agg.most_common(int(sys.argv[4]) if len(sys.argv)>4 else 40):
    print("%6.2f%%  %s"%(100*v/total_all,k))
print("--- top (moose line, leaf) pairs")
for k,v in fine.most_common(25):
    print("%6.2f%%  %s  <- %s"%(100*v/total_all,k[0],k[1]))
