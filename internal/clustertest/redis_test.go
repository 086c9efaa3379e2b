package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/redisx"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/tracker"
	"github.com/refedge/refedge/widget"
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// openCluster opens the Redis Cluster exactly as refedge serve does from
// REFEDGE_REDIS_URL (comma-separated seeds).
func openCluster(t *testing.T) (*redisx.Client, *redis.ClusterClient) {
	t.Helper()
	seeds := RedisCluster(t)
	rdb, err := redisx.Open(seeds, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	cc, ok := rdb.UniversalClient.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("redisx.Open(%q) returned %T, want a cluster client", seeds, rdb.UniversalClient)
	}
	return rdb, cc
}

func masterOf(t *testing.T, cc *redis.ClusterClient, key string) string {
	t.Helper()
	m, err := cc.MasterForKey(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return m.Options().Addr
}

// TestRedisClusterClickState runs the click path's state store on the cluster with a
// partner, a visitor and an IP whose keys live on three different masters, so the one
// pipeline of the click's commands really spans nodes.
func TestRedisClusterClickState(t *testing.T) {
	rdb, cc := openCluster(t)
	ctx := t.Context()
	run := randomHex(4)
	vis := "v:" + randomHex(8)
	visNode := masterOf(t, cc, "rfe:rl:v:{"+vis+"}")
	var ip netip.Addr
	for i := 0; ; i++ {
		ip = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 7})
		if masterOf(t, cc, "rfe:rl:ip:{"+ip.String()+"}") != visNode {
			break
		}
	}
	ipNode := masterOf(t, cc, "rfe:rl:ip:{"+ip.String()+"}")
	var pid string
	for i := 0; ; i++ {
		pid = fmt.Sprintf("cl-%s-%d", run, i)
		if n := masterOf(t, cc, partners.Key(pid)); n != visNode && n != ipNode {
			break
		}
	}
	t.Logf("partner %s on %s, visitor on %s, IP %s on %s", pid, masterOf(t, cc, partners.Key(pid)), visNode, ip, ipNode)

	reg := &partners.Registry{Redis: rdb}
	t0 := time.Now()
	if err := reg.Upsert(ctx, partners.Partner{ID: pid, Status: partners.Active, EmailConfirmed: true, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	// No in-process standing cache: the test changes the partner's standing.
	st := &tracker.RedisState{Redis: rdb, Quality: tracker.Quality{VisitorRate: 3, VisitorBurst: 3}, PartnerTTL: -1}
	lookup := func(partner, visitor string) tracker.State {
		t.Helper()
		var s tracker.State
		q := &tracker.StateQuery{Partner: []byte(partner), Visitor: []byte(visitor), IP: ip, Now: t0, Windows: true}
		if err := st.Lookup(ctx, q, &s); err != nil {
			t.Fatalf("lookup %s/%s: %v", partner, visitor, err)
		}
		return s
	}
	if s := lookup(pid, vis); s.Partner != tracker.PartnerActive || s.Duplicate || s.VisitorLimited || s.IPLimited || s.OwnVisitor {
		t.Fatalf("first click: %+v, want an active partner and nothing else", s)
	}
	if n, err := cc.Exists(ctx, partners.Key(pid)+":dup:"+vis).Result(); err != nil || n != 1 {
		t.Fatalf("duplicate-window key: %d, %v", n, err)
	}
	if s := lookup(pid, vis); !s.Duplicate {
		t.Errorf("second click within the window: %+v, want a duplicate", s)
	}
	// VisitorBurst 3 at one instant: clicks 1 to 3 pass, later ones are limited.
	lookup(pid, vis)
	lookup(pid, vis)
	if s := lookup(pid, vis); !s.VisitorLimited {
		t.Errorf("fifth click at one instant: %+v, want the visitor limited", s)
	}
	// The partner's own browser is a self-referral.
	own := randomHex(8)
	if err := reg.AddVisitor(ctx, pid, own); err != nil {
		t.Fatal(err)
	}
	if s := lookup(pid, "v:"+own); !s.OwnVisitor {
		t.Errorf("partner's own browser: %+v, want OwnVisitor", s)
	}
	if err := reg.Upsert(ctx, partners.Partner{ID: pid, Status: partners.Blocked, EmailConfirmed: true, UpdatedAt: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if s := lookup(pid, "v:"+randomHex(8)); s.Partner != tracker.PartnerBlocked {
		t.Errorf("blocked partner: %+v", s)
	}
	// A click the request alone disqualifies asks for the standing only: no window opens.
	other := "v:" + randomHex(8)
	var s tracker.State
	if err := st.Lookup(ctx, &tracker.StateQuery{Partner: []byte(pid), Visitor: []byte(other), IP: ip, Now: t0}, &s); err != nil || s.Partner != tracker.PartnerBlocked {
		t.Errorf("standing only: %+v, %v", s, err)
	}
	if n, _ := cc.Exists(ctx, partners.Key(pid)+":dup:"+other).Result(); n != 0 {
		t.Error("a standing-only lookup opened a duplicate window")
	}
	for _, k := range []string{partners.Key(pid), partners.VisitorsKey(pid), partners.Key(pid) + ":dup:" + vis,
		"rfe:rl:v:{" + vis + "}", "rfe:rl:ip:{" + ip.String() + "}"} {
		cc.Del(context.Background(), k)
	}
}

// TestRedisClusterPartnersAndTokens: the registry's ordering rule and the partner API's
// token revocation on the cluster.
func TestRedisClusterPartnersAndTokens(t *testing.T) {
	rdb, cc := openCluster(t)
	ctx := t.Context()
	pid := "clp-" + randomHex(4)
	t.Cleanup(func() { cc.Del(context.Background(), partners.Key(pid)) })
	reg := &partners.Registry{Redis: rdb}
	t0 := time.Now().Truncate(time.Millisecond)
	if err := reg.Upsert(ctx, partners.Partner{ID: pid, UserID: "u1", Status: partners.Active, EmailConfirmed: true, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	// An older event arriving late changes nothing.
	if err := reg.Upsert(ctx, partners.Partner{ID: pid, UserID: "u1", Status: partners.Blocked, EmailConfirmed: true, UpdatedAt: t0.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	p, err := reg.Get(ctx, pid)
	if err != nil || p.Status != partners.Active || p.UserID != "u1" {
		t.Fatalf("Get: %+v, %v; want the active entry", p, err)
	}
	if _, err := reg.Get(ctx, pid+"-none"); !errors.Is(err, partners.ErrNotFound) {
		t.Errorf("unknown partner: %v, want ErrNotFound", err)
	}

	keys, err := signing.ParseKeyring("cluster-test-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	auth, err := partnerapi.NewAuth(partnerapi.Config{Keys: keys, Redis: rdb, PublicURL: "http://127.0.0.1:1", Partners: reg})
	if err != nil {
		t.Fatal(err)
	}
	tok := auth.IssueToken(pid)
	authenticate := func() (partnerapi.Principal, error) {
		var rc fasthttp.RequestCtx
		rc.Request.Header.Set("Authorization", "Bearer "+tok.Token)
		return auth.Authenticate(&rc)
	}
	if pr, err := authenticate(); err != nil || pr.PartnerID != pid {
		t.Fatalf("fresh token: %+v, %v", pr, err)
	}
	if err := auth.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Del(context.Background(), "rfe:token:revoked:"+tok.ID) })
	if _, err := authenticate(); !errors.Is(err, partnerapi.ErrUnauthenticated) {
		t.Errorf("revoked token: %v, want ErrUnauthenticated", err)
	}
}

// TestRedisClusterWidgetCatalog: the catalog's scripts (upsert, moderation, random draw
// of ids and cards in one slot), its index pipeline across categories and its MULTI on
// a kwork's two keys, on the cluster.
func TestRedisClusterWidgetCatalog(t *testing.T) {
	rdb, cc := openCluster(t)
	ctx := t.Context()
	run := randomHex(4)
	cat := func(i int) string { return fmt.Sprintf("cl-%s-cat%d", run, i) }
	c, err := widget.NewCatalog(rdb, "https://market.example")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 6 {
		id := fmt.Sprintf("cl-%s-k%d", run, i)
		ids = append(ids, id)
		k := widget.Kwork{ID: id, Title: "Kwork " + id, Category: cat(i % 2), Price: 100000, Currency: "RUB",
			URL: "https://market.example/view/" + id, Rating: 4.5, Status: widget.StatusActive, UpdatedMs: 1000}
		if ok, err := c.Put(ctx, k); err != nil || !ok {
			t.Fatalf("put %s: %v, %v", id, ok, err)
		}
	}
	t.Cleanup(func() {
		for _, id := range ids {
			cc.Del(context.Background(), "rfe:kw:{"+id+"}", "rfe:kwimg:{"+id+"}") // same slot
		}
		for i := range 2 {
			cc.Del(context.Background(), "rfe:kwcat:{"+cat(i)+"}:ids", "rfe:kwcat:{"+cat(i)+"}:cards")
			cc.SRem(context.Background(), "rfe:kwcats", cat(i))
		}
	})
	cards, err := c.Random(ctx, nil, cat(0), 10)
	if err != nil || len(cards) != 3 {
		t.Fatalf("random of %s: %d cards, %v; want 3", cat(0), len(cards), err)
	}
	// Move k0 to the other category (its index entries change slots), reject k1.
	k0, err := c.Get(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	k0.Category, k0.UpdatedMs = cat(1), 2000
	if ok, err := c.Put(ctx, k0); err != nil || !ok {
		t.Fatalf("move: %v, %v", ok, err)
	}
	if ok, err := c.Moderate(ctx, ids[2], false, time.UnixMilli(3000)); err != nil || !ok {
		t.Fatalf("moderate: %v, %v", ok, err)
	}
	if cards, err = c.Random(ctx, nil, cat(0), 10); err != nil || len(cards) != 1 {
		t.Errorf("after the move and the rejection, %s has %d cards (%v), want 1", cat(0), len(cards), err)
	}
	if cards, err = c.Random(ctx, nil, cat(1), 10); err != nil || len(cards) != 4 {
		t.Errorf("after the move, %s has %d cards (%v), want 4", cat(1), len(cards), err)
	}
	if cards, err = c.Pick(ctx, nil, ids, 10); err != nil || len(cards) != 5 {
		t.Errorf("pick over every id: %d cards (%v), want the 5 active ones", len(cards), err)
	}
	if err := c.SetImage(ctx, ids[3], []byte("jpeg bytes"), "v1"); err != nil {
		t.Fatal(err)
	}
	if ver, b, err := c.Image(ctx, ids[3]); err != nil || ver != "v1" || string(b) != "jpeg bytes" {
		t.Errorf("image: %q %q %v", ver, b, err)
	}
	counts, err := c.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, cc := range counts {
		if cc.Category == cat(0) || cc.Category == cat(1) {
			found++
		}
	}
	if found != 2 {
		t.Errorf("categories: %+v, want both of this test's", counts)
	}
}
