(function(){
var b=document.body,d=b.dataset,v=document.getElementById("v"),t=document.getElementById("t");
b.classList.add("js");
var n=t?t.children.length:0,p=0,hold=0,vis=0,tm=0,sent=0;
function go(){t.style.transform="translateX("+(-100*p)+"%)";v.scrollLeft=0;v.scrollTop=0;b.setAttribute("data-page",p)}
if(n>1){
b.setAttribute("data-page",0);
setInterval(function(){if(hold||!vis||document.hidden)return;p=(p+1)%n;go()},1000*d.rot);
t.addEventListener("mouseenter",function(){hold=1});
t.addEventListener("mouseleave",function(){hold=0});
t.addEventListener("focusin",function(e){hold=1;var g=e.target.closest(".pg");for(var i=0;i<n;i++)if(t.children[i]===g){p=i;go()}});
t.addEventListener("focusout",function(){hold=0})}
function send(){if(document.hidden){tm=0;return}sent=1;try{if(navigator.sendBeacon(d.v,d.s))return}catch(e){}fetch(d.v,{method:"POST",body:d.s,keepalive:true,mode:"no-cors"})}
if(window.IntersectionObserver){new IntersectionObserver(function(es){var r=es[es.length-1].intersectionRatio;vis=r>0;if(sent||!d.v)return;if(r>=.5){if(!tm)tm=setTimeout(send,1000)}else if(tm){clearTimeout(tm);tm=0}},{threshold:[0,.5,1]}).observe(document.documentElement)}else vis=1;
})();
