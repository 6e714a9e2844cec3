"""Dev experiment: small-scale pretraining with one hyper-parameter changed, then ridge eval."""
import pickle, sys, json, warnings, numpy as np, torch, time
warnings.simplefilter("ignore")
torch.set_num_threads(1)
from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.inference import prepare_all
from dimfeaturizer.hub import untrained_model, save_pretrained
from dimfeaturizer.training import TrainConfig, pretrain
from dimfeaturizer.benchmarks.protocol import filter_frame, make_splits
name = sys.argv[1]; kw = json.loads(sys.argv[2]); epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
with open('/tmp/dev/mp.pkl','rb') as f: df = pickle.load(f)
f = filter_frame(df); sp = make_splits(len(f))
pool = sp.train_pool[5000:10000]
S = list(f.structure.iloc[pool])
cfg = SiteNetConfig(**kw.pop("model", {}))
packed = prepare_all(S, list(range(len(S))), cfg)
del df, f
model = untrained_model(cfg, 0)
t = time.time()
lr = kw.pop("learning_rate", 8.12e-4)
res = pretrain(model, packed, TrainConfig(epochs=epochs, learning_rate=lr, progress=False, compile=True, **kw))
print(name, "train s", time.time() - t, "best", res.best_epoch, {k: round(v, 3) for k, v in res.history[-1].items() if k.startswith("val")}, flush=True)
save_pretrained(model, f"/tmp/dev/exp_{name}")
