import re,sys
def parse(p):
    s=open(p).read()
    s=re.sub(r'/\*.*?\*/','',s,flags=re.S)
    structs={}
    for m in re.finditer(r'struct\s+(\w+)\s*\{(.*?)\n\};',s,flags=re.S):
        name,body=m.group(1),m.group(2)
        fields=[]
        depth=0
        for line in body.split('\n'):
            t=line.strip()
            if '{' in t: depth+=1
            if '}' in t:
                depth-=1
                mm=re.match(r'\}\s*(\w+)?',t)
                if depth==0 and mm and mm.group(1): fields.append(mm.group(1))
                continue
            if depth==0 or (depth==1 and 'union' in body and False):
                mm=re.match(r'.*?(\w+)\s*(\[[^\]]*\])?\s*;$',t)
                if mm and not t.startswith('#'): fields.append(mm.group(1))
            elif depth==1:
                # anonymous union members
                mm=re.match(r'.*?(\w+)\s*(\[[^\]]*\])?\s*;$',t)
                if mm: fields.append(mm.group(1))
        structs[name]=fields
    consts=set(re.findall(r'#define\s+(IOMMU\w*)\s',s))
    for m in re.finditer(r'enum\s+\w+\s*\{(.*?)\};',s,flags=re.S):
        for c in re.findall(r'^\s*(\w+)\s*(?:=|,|$)',m.group(1),flags=re.M):
            consts.add(c)
    return structs,consts
o=parse(sys.argv[1]); m=parse(sys.argv[2])
common_structs=sorted(set(o[0])&set(m[0]))
common_consts=sorted(o[1]&m[1])
out=['#include <stdio.h>','#include <stddef.h>','#include HDR','int main(void){']
nf=0
for st in common_structs:
    out.append('printf("size %s %%zu\\n", sizeof(struct %s));'%(st,st))
    for f in o[0][st]:
        if f in m[0][st]:
            out.append('printf("off %s.%s %%zu\\n", offsetof(struct %s,%s));'%(st,f,st,f)); nf+=1
for c in common_consts:
    if c.startswith('IOMMUFD_CMD') or True:
        out.append('printf("value %s %%llu\\n",(unsigned long long)(%s));'%(c,c))
out.append('return 0;}')
open('t.c','w').write('\n'.join(out)+'\n')
print('common structs',len(common_structs),'offsets',nf,'constants',len(common_consts))
print('mainline structs missing here:',sorted(set(m[0])-set(o[0])))
print('mainline constants missing here:',sorted(m[1]-o[1]))
print('field differences:',[(st,sorted(set(m[0][st])^set(o[0][st]))) for st in common_structs if set(m[0][st])!=set(o[0][st])])
