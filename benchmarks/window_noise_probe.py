import sys, time, json, numpy as np, torch
from greenbench.data import models
from greenbench.cells import variants
from greenbench.core import io
torch.set_num_threads(2)
base = "/work/run45/results/models/minilm/baseline"
tok = io.read_parquet("/work/run45/results/tokens/minilm/dev.parquet")
ids = [np.array(x) for x in tok.input_ids][:512]
rng = np.random.default_rng(int(sys.argv[1]))
def batches(bs=8):
    order = rng.permutation(len(ids))
    out=[]
    for i in range(0, len(order)-bs+1, bs):
        sel=[ids[j] for j in order[i:i+bs]]; L=max(len(s) for s in sel)
        x=torch.zeros(bs,L,dtype=torch.long); m=torch.zeros(bs,L,dtype=torch.long)
        for k,s in enumerate(sel): x[k,:len(s)]=torch.tensor(s); m[k,:len(s)]=1
        out.append((x,m))
    return out
fp32 = models.load_classifier(base).eval()
int8 = variants.get("int8_dynamic").prepare(models.load_classifier(base), "cpu", None, {}).model
B = batches()
def window(model, secs=2.0):
    n=0; t0=time.perf_counter()
    with torch.inference_mode():
        while time.perf_counter()-t0 < secs:
            x,m = B[n % len(B)]; model(input_ids=x, attention_mask=m); n+=1
    return (time.perf_counter()-t0)/n
for mdl in (fp32,int8): window(mdl,1.0)
res=[]
for rep in range(8):
    a=window(fp32); b=window(int8); res.append(np.log(b/a))
print(json.dumps({"seed":sys.argv[1],"ratios":[float(x) for x in res]}))
