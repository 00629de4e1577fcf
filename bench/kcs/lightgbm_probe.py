# Diagnostic, not part of the product: which KCS columns carry the signal?
# LightGBM on label-encoded codes + numeric features (the README baseline's
# recipe, num_leaves 63), with the columns named in argv[1] dropped.
# Needs: pip install lightgbm pandas. Usage: python3 lightgbm_probe.py "Importer ID,Declarant ID"
import pandas as pd, numpy as np, lightgbm as lgb, math, sys
import os
d=os.environ.get('KCS_DATA', os.path.join(os.path.dirname(__file__), '../../../shared/data/kcs'))+'/'
tr=pd.read_csv(d+'df_syn_train_eng.csv',dtype=str); va=pd.read_csv(d+'df_syn_valid_eng.csv',dtype=str); te=pd.read_csv(d+'df_syn_test_eng.csv',dtype=str)
full=pd.concat([tr,va,te])
cats=['Office ID','Process Type','Import Type','Import Use','Payment Type','Mode of Transport','Declarant ID','Importer ID','Seller ID','Courier ID','HS6 Code','Country of Departure','Country of Origin','Tax Type','Country of Origin Indicator']
def feats(df):
    X=pd.DataFrame(index=df.index)
    for c in cats:
        codes={v:i for i,v in enumerate(sorted(full[c].fillna('').unique()))}
        X[c]=df[c].fillna('').map(codes)
    p=df['Item Price'].astype(float); m=df['Net Mass'].astype(float); t=df['Tax Rate'].astype(float)
    X['lp']=np.log1p(p); X['lm']=np.log1p(m); X['tax']=t; X['lup']=np.log1p(p/(m+1e-9)); X['lduty']=np.log1p(p*t/100)
    X['hs2']=df['HS6 Code'].str[:2].astype(int); X['hs4']=df['HS6 Code'].str[:4].astype(int)
    dt=pd.to_datetime(df['Date']); X['doy']=dt.dt.day_of_year; X['dow']=dt.dt.day_of_week; X['mon']=dt.dt.month
    X['o_ne_d']=(df['Country of Origin']!=df['Country of Departure']).astype(int)
    return X
drop=sys.argv[1].split(',') if len(sys.argv)>1 and sys.argv[1] else []
Xtr,Xva,Xte=feats(tr).drop(columns=drop),feats(va).drop(columns=drop),feats(te).drop(columns=drop)
ytr,yva,yte=tr['Fraud'].astype(int),va['Fraud'].astype(int),te['Fraud'].astype(int)
p=dict(objective='binary',learning_rate=0.05,num_leaves=63,verbose=-1,seed=0)
m=lgb.train(p,lgb.Dataset(Xtr,ytr),2000,valid_sets=[lgb.Dataset(Xva,yva)],callbacks=[lgb.early_stopping(50,verbose=False)])
n=m.best_iteration
m2=lgb.train(p,lgb.Dataset(pd.concat([Xtr,Xva]),pd.concat([ytr,yva])),n)
s=m2.predict(Xte); o=np.argsort(-s); 
print('rounds',n,[round(100*yte.values[o[:math.ceil(k/100*len(te))]].mean(),1) for k in [1,2,4,5,10]])
imp=sorted(zip(m2.feature_importance('gain'),Xtr.columns),reverse=True)
print([(c,int(g)) for g,c in imp[:12]])
